"""Integration tests run the real ComfyUI (and Inspire Pack) as test peers, in their own Python.

COMFYUI_DIR      a ComfyUI source tree (required; the tests skip with this reason when unset)
INSPIRE_DIR      a ComfyUI-Inspire-Pack source tree (optional; Inspire checks skip without it)
COMFYUI_PYTHON   the interpreter that has ComfyUI's dependencies (default: this one)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ORACLE = os.path.join(os.path.dirname(__file__), "comfy_oracle.py")


@pytest.fixture(scope="session")
def comfy_env():
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy or not os.path.isdir(comfy):
        pytest.skip("COMFYUI_DIR is not set to a ComfyUI checkout: the real-ComfyUI integration tests are skipped")
    return {
        "comfyui": comfy,
        "inspire": os.environ.get("INSPIRE_DIR") or None,
        "python": os.environ.get("COMFYUI_PYTHON") or sys.executable,
    }


@pytest.fixture(scope="session")
def oracle(comfy_env):
    """`oracle(arch, files, vector=None)` -> the oracle's JSON report."""
    return lambda arch, files, vector=None, inspire=True: run_oracle(comfy_env, arch, files, vector, inspire)


def run_oracle(env: dict, arch: str, files, vector: str | None = None, inspire: bool = True) -> dict:
    """Run comfy_oracle.py for one architecture (one process each: Inspire's key map is global)."""
    cmd = [env["python"], ORACLE, "--comfyui", env["comfyui"], "--arch", arch]
    if inspire and env["inspire"]:
        cmd += ["--inspire", env["inspire"]]
    if vector is not None:
        cmd += ["--vector", vector]
    proc = subprocess.run(cmd + list(files), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


# --- a real ComfyUI server with the pack loaded through --extra-model-paths-config -----------

import contextlib  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def sd15_checkpoint(comfy_env, tmp_path_factory):
    """A random-weight SD1.5-shaped checkpoint written once per session (or LORA_ATLAS_SD15 when set)."""
    given = os.environ.get("LORA_ATLAS_SD15")
    if given and os.path.isfile(given):
        return given
    out = str(tmp_path_factory.mktemp("checkpoints") / "sd15_random.safetensors")
    proc = subprocess.run([comfy_env["python"], os.path.join(os.path.dirname(__file__), "sd15_checkpoint.py"),
                           "--comfyui", comfy_env["comfyui"], out], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def comfy_server(comfy_env, sd15_checkpoint, tmp_path_factory):
    """{"url", "log", "base", "loras", "output"}: ComfyUI on loopback with the pack loaded from a
    folder holding a symlink to this checkout (nothing copied) and a LoRA library of our fixtures."""
    from libraries import build_comfy_library as build_library   # tests/helpers, via pytest `pythonpath`

    with comfy_with_library(comfy_env, sd15_checkpoint, tmp_path_factory.mktemp("comfy"), build_library) as server:
        yield server


@pytest.fixture(scope="session")
def comfy_launcher():
    """`comfy_with_library` for a test module that needs a server (and a library) of its own."""
    return comfy_with_library


@contextlib.contextmanager
def comfy_with_library(comfy_env, sd15_checkpoint, base, build_library):
    """A ComfyUI server in `base` whose loras folder `build_library(path)` fills; stopped on exit."""
    for d in ("custom_nodes", "checkpoints", "base/custom_nodes", "base/models/loras", "out", "tmp", "in", "user"):
        (base / d).mkdir(parents=True)
    os.symlink(REPO, base / "custom_nodes" / "lora_atlas")
    os.symlink(sd15_checkpoint, base / "checkpoints" / "sd15_random.safetensors")
    loras = build_library(base / "loras")
    yaml_path = base / "extra_model_paths.yaml"
    yaml_path.write_text(f"lora_atlas_test:\n  base_path: {base}\n  custom_nodes: custom_nodes\n"
                         f"  loras: loras\n  checkpoints: checkpoints\n")
    with running_comfy(comfy_env, base, yaml_path) as (url, log_path, proc):
        yield {"url": url, "log": log_path, "base": str(base), "loras": loras, "output": str(base / "out"),
               "proc": proc}


@pytest.fixture(scope="session")
def launch_comfy():
    """`running_comfy` for tests that start their own ComfyUI (other custom nodes, another frontend)."""
    return running_comfy


@contextlib.contextmanager
def running_comfy(comfy_env, base, yaml_path, extra_args=()):
    """(url, log path, process) of ComfyUI on a free loopback port with its folders under `base`
    (base/base, out, tmp, in, user) and the model paths of `yaml_path`; stopped on exit."""
    port = _free_port()
    log_path = base / "comfyui.log"
    cmd = [comfy_env["python"], "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--extra-model-paths-config", str(yaml_path), "--base-directory", str(base / "base"),
           "--output-directory", str(base / "out"), "--temp-directory", str(base / "tmp"),
           "--input-directory", str(base / "in"), "--user-directory", str(base / "user"), "--disable-auto-launch",
           *extra_args]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=comfy_env["comfyui"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/system_stats", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("ComfyUI did not start:\n" + log_path.read_text()[-4000:])
                time.sleep(0.5)
        yield url, log_path, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
