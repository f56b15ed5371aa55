"""A private headless ComfyUI for one render run (`lora-atlas previews DIR --comfyui PATH`): started
from the user's ComfyUI folder on a free loopback port, with the library as an extra LoRA folder,
stopped afterwards, and never left running (its own process group, stopped on exit or signal; on
Linux the kernel also stops it if LoRA Atlas is killed outright).

    with LocalComfyUI(comfy_dir, library_root, python=PY) as comfy:
        render_previews(root, [LiveComfyClient(comfy.url)], ...)

What it runs: `PY main.py --listen 127.0.0.1 --port P --disable-auto-launch
--extra-model-paths-config <temp>/lora_atlas_paths.yaml [--extra-model-paths-config YAML ...]
--output-directory <temp>/output --temp-directory <temp>/temp [--cpu]` in PATH. The generated yaml
makes ComfyUI list the library's LoRAs under their paths in it (so they match by name); outputs go
to a temporary folder (the previews are fetched over HTTP, the user's output folder stays clean).
`--cpu` is added when the machine shows no GPU (no NVIDIA/AMD device node, not macOS).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from ..errors import LibraryError

START_TIMEOUT = 300.0
STOP_TIMEOUT = 20.0
LOG_TAIL = 3000
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_gpu() -> bool:
    """A cheap guess (torch is not imported here): an NVIDIA or AMD device node, or macOS (MPS)."""
    if sys.platform == "darwin":
        return True
    if os.name == "nt":
        return shutil.which("nvidia-smi") is not None
    return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/kfd", "/dev/dxg"))


def _yaml_text(value: str) -> str:
    return json.dumps(value)          # a JSON string is a valid YAML double-quoted scalar


class LocalComfyUI:
    def __init__(self, comfy_dir: str, library_root: str, *, python: str | None = None, models_configs=(),
                 cpu: bool | None = None, extra_args=(), start_timeout: float = START_TIMEOUT):
        comfy_dir = os.path.abspath(os.path.expanduser(comfy_dir))
        if not os.path.isfile(os.path.join(comfy_dir, "main.py")):
            raise LibraryError(f"{comfy_dir} is not a ComfyUI folder (no main.py): --comfyui is the folder "
                               "that holds ComfyUI's main.py")
        for cfg in models_configs:
            if not os.path.isfile(cfg):
                raise LibraryError(f"--models-config {cfg}: no such file")
        self.comfy_dir = comfy_dir
        self.library_root = os.path.abspath(library_root)
        self.python = python or sys.executable
        self.models_configs = [os.path.abspath(c) for c in models_configs]
        self.cpu = (not has_gpu()) if cpu is None else cpu
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.proc = None
        self.tmp = None
        self.url = None
        self._log = None

    def command(self, port: int) -> list:
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
               "--extra-model-paths-config", os.path.join(self.tmp, "lora_atlas_paths.yaml")]
        for cfg in self.models_configs:
            cmd += ["--extra-model-paths-config", cfg]
        cmd += ["--output-directory", os.path.join(self.tmp, "output"),
                "--temp-directory", os.path.join(self.tmp, "temp")]
        return cmd + (["--cpu"] if self.cpu else []) + self.extra_args

    def start(self) -> str:
        self.tmp = tempfile.mkdtemp(prefix="lora-atlas-comfyui-")
        for d in ("output", "temp"):
            os.makedirs(os.path.join(self.tmp, d))
        with open(os.path.join(self.tmp, "lora_atlas_paths.yaml"), "w", encoding="utf-8") as fh:
            fh.write(f"lora_atlas_library:\n  base_path: {_yaml_text(self.library_root)}\n  loras: \".\"\n")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(os.path.join(self.tmp, "comfyui.log"), "wb")
        try:
            self.proc = subprocess.Popen(self.command(port), cwd=self.comfy_dir, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         **_own_group_dying_with_us())
        except OSError as exc:
            self.stop()
            raise LibraryError(f"could not start ComfyUI with {self.python}: {exc} (--python is the interpreter "
                               "that has ComfyUI's requirements)") from None
        atexit.register(self.stop)
        self._wait_ready()
        return self.url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    r.read()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = (f"exited with code {self.proc.returncode}" if self.proc.poll() is not None
                       else f"did not answer within {self.start_timeout:g} s")
                tail = self.log_tail()
                self.stop()
                raise LibraryError(f"the local ComfyUI ({self.comfy_dir}) {why}; its last output:\n{tail}\n"
                                   "(is --python the interpreter with ComfyUI's requirements?)")
            time.sleep(0.25)

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.tmp, "comfyui.log"), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - LOG_TAIL))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the whole process group (ComfyUI and anything it started) and remove the temp folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
        if proc is not None:
            _signal_group(proc, signal.SIGKILL)        # stragglers of the group, if any
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _own_group_dying_with_us() -> dict:
    """Popen options: ComfyUI in its own process group (a terminal's Ctrl-C reaches LoRA Atlas, which
    stops it cleanly), and on Linux killed by the kernel if LoRA Atlas itself is killed (SIGKILL runs
    no atexit). The death signal follows the thread that started it: start it from a long-lived one."""
    if os.name != "posix":
        return {}
    if not sys.platform.startswith("linux"):
        return {"start_new_session": True}

    def setup():                      # in the child, between fork and exec
        os.setsid()
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    return {"preexec_fn": setup}


def _signal_group(proc, sig) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        elif sig == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
