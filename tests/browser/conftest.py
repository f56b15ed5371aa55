"""Browser tests of the panel: Debian chromium driven by Playwright against a real `lora-atlas
serve` process on loopback, on libraries from the project's builders.

They skip with the reason when Playwright or chromium is missing, except under CI (CI=true),
where a missing browser is a failure: CI installs both (.ci/run, pyproject's [test] extra)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        _missing("Debian chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    errors: list = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors
    yield pg
    context.close()
    assert not errors, f"the page raised: {errors}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


class Served:
    """A `lora-atlas serve ROOT` process on loopback; `url` is its page, `api(path)` a GET."""

    def __init__(self, root):
        self.root = str(root)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen([sys.executable, "-m", "lora_atlas", "serve", self.root, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + 30
        while True:
            try:
                self.api("/settings")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"lora-atlas serve did not start: {self.proc.stderr.read().decode()}")
                time.sleep(0.1)
        self.api("/loras?refresh=1&limit=1")        # scan now: the page finds the library listed

    def api(self, path: str):
        return get_json(f"http://127.0.0.1:{self.port}/lora-atlas{path}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve():
    """serve(root) -> Served, stopped after the test."""
    started = []

    def start(root) -> Served:
        s = Served(root)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
