"""`lora-atlas serve`: the same routes on a plain aiohttp server on loopback, events on /ws."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def test_serve_refuses_non_loopback_and_missing_dirs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "serve", str(tmp_path), "--host", "0.0.0.0"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "loopback" in out.stderr
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "serve", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not a folder" in out.stderr


def test_serve_help_has_an_example():
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "serve", "--help"], capture_output=True, text=True)
    assert "Example:" in out.stdout


def _start_serving(root: str):
    """(process, base URL) of `lora-atlas serve root` on a free loopback port, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lora_atlas", "serve", root, "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/lora-atlas/settings", timeout=2).read()
            break
        except OSError:
            time.sleep(0.05)
    return proc, url


@pytest.fixture
def served(library_copy):
    proc, url = _start_serving(str(library_copy("comfy", "loras")))
    yield url
    proc.terminate()
    proc.wait(timeout=20)


async def test_serve_routes_and_job_events(served):
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.get(served + "/lora-atlas/loras?refresh=1") as r:
            assert r.status == 200 and (await r.json())["total"] == 5
        async with session.get(served + "/lora-atlas/loras/nope") as r:
            assert r.status == 404 and set(await r.json()) == {"error"}
        async with session.ws_connect(served + "/ws") as ws:
            async with session.post(served + "/lora-atlas/jobs/check", json={}) as r:
                assert r.status == 202
                job_id = (await r.json())["job"]["id"]
            states = []
            async for msg in ws:
                doc = json.loads(msg.data)
                if doc["type"] == "lora-atlas.job" and doc["data"]["id"] == job_id:
                    states.append(doc["data"]["state"])
                    if doc["data"]["state"] in ("done", "failed"):
                        break
            assert states[-1] == "done"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_serve_with_a_fifo_scans_organizes_and_stops(library_copy):
    # A FIFO named like a LoRA used to block the background scan forever while it held the
    # library's writer lock: organize jobs failed as busy and SIGTERM could not stop the server.
    root = str(library_copy("comfy", "loras"))
    os.mkfifo(os.path.join(root, "styles", "pipe.safetensors"))
    proc, url = _start_serving(root)
    url += "/lora-atlas"
    try:
        listing = json.loads(urllib.request.urlopen(url + "/loras?refresh=1", timeout=60).read())
        assert listing["total"] == 5
        request = urllib.request.Request(url + "/jobs/organize", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        job = json.loads(urllib.request.urlopen(request, timeout=30).read())["job"]
        for _ in range(600):
            job = json.loads(urllib.request.urlopen(f"{url}/jobs/{job['id']}", timeout=30).read())
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert job["state"] == "done", job
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("SIGTERM did not stop the server") from None
    assert code in (0, -signal.SIGTERM)
