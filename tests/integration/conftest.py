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
