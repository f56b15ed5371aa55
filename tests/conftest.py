"""Shared fixtures: realistic LoRA files written once per test session by the project's builder,
small real libraries built once per session and copied per test, and the CLI run in-process."""

from __future__ import annotations

import shutil
import signal

import pytest

from libraries import BUILDERS, tree_hashes   # tests/helpers (pyproject's pytest `pythonpath`)
from lora_atlas.demo.synthetic_loras import write_fixture


@pytest.fixture(scope="session")
def lora_files(tmp_path_factory):
    """name -> path of a sparse (header-real, weights-hole) file for every named fixture; built lazily."""
    root = tmp_path_factory.mktemp("loras")
    cache: dict = {}

    def get(name: str, **kw) -> str:
        key = (name, tuple(sorted(kw.items())))
        if key not in cache:
            path = root / f"{name}_{len(cache)}.safetensors"
            cache[key] = write_fixture(name, str(path), sparse=kw.pop("sparse", True), **kw)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def _library_templates(tmp_path_factory):
    """kind -> folder of the session's one build of that library (never handed to a test: copy it)."""
    built: dict = {}

    def get(kind: str) -> str:
        if kind not in built:
            root = tmp_path_factory.mktemp(f"template-{kind}") / "lib"
            BUILDERS[kind](str(root))
            built[kind] = str(root)
        return built[kind]

    return get


@pytest.fixture
def library_copy(tmp_path, _library_templates):
    """`library_copy(kind, name="lib")` -> Path of this test's own copy (tmp_path/name) of a library
    of tests/helpers/libraries.py: "mixed", "comfy" or "demo". Each kind is built once per session."""
    def copy(kind: str, name: str = "lib"):
        root = tmp_path / name
        shutil.copytree(_library_templates(kind), root)
        return root

    return copy


@pytest.fixture
def hashes():
    """The tree_hashes helper (relative path -> sha256, the store folder excluded), for tests."""
    return tree_hashes


@pytest.fixture
def deadline():
    """Fail (instead of hanging the suite) if the test blocks for 20 s, e.g. in open() on a FIFO.
    The failure is not an OSError (code under test may catch those and block again), and the
    alarm repeats every second until the test ends."""
    def expired(signum, frame):
        pytest.fail("blocked for 20 s: a read waited on something that is not a regular file")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, 20, 1)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def pinned_clock(monkeypatch):
    """LORA_ATLAS_NOW fixed, so journal and document timestamps are the same on every run."""
    monkeypatch.setenv("LORA_ATLAS_NOW", "2025-01-02T03:04:05Z")


@pytest.fixture
def run_cli(capsysbinary):
    """`run_cli(*argv)` -> (exit code, stdout, stderr) of `lora-atlas *argv` run in this process.
    Arguments may be paths (each is passed as str); output is decoded as UTF-8."""
    from lora_atlas.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        captured = capsysbinary.readouterr()
        return code, captured.out.decode(), captured.err.decode()

    return run


@pytest.fixture
def comfy_library(library_copy) -> str:
    """This test's copy of the "comfy" library (SD1 and SDXL LoRAs, a preview, a broken file)."""
    return str(library_copy("comfy", "loras"))


@pytest.fixture
def events():
    """The (event, data) pairs the server context sent, in order."""
    return []


@pytest.fixture
def server_context(comfy_library, events):
    """A server Context (state + job runner) on `comfy_library`, scanned, recording its events."""
    from lora_atlas.server.context import Context
    from lora_atlas.server.state import LibraryState
    state = LibraryState([comfy_library], send=lambda event, data: events.append((event, data)), auto_scan=False)
    state.refresh()
    context = Context(state)
    yield context
    context.close()
