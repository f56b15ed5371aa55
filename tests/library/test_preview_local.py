"""local.py's process handling, with a stand-in `main.py` (a tiny HTTP server that also starts a child
process, as ComfyUI's own workers could): the command line it is given, readiness, the whole process
group stopped (child included) and the temp folder removed, a ComfyUI that exits at start reported
with its output. Rendering through a real private ComfyUI is tests/integration/test_previews_runner.py."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import pytest

from lora_atlas.library.errors import LibraryError
from lora_atlas.library.previews import local

STAND_IN = textwrap.dedent("""
    import http.server, json, subprocess, sys, time
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open("child.pid", "w").write(str(child.pid))
    open("argv.json", "w").write(json.dumps(args))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                       # a zombie awaiting its reaper is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
def test_a_local_comfyui_is_started_with_the_library_and_stopped_with_its_children(tmp_path):
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "main.py").write_text(STAND_IN)
    lib = tmp_path / "lib"
    lib.mkdir()
    extra = tmp_path / "mine.yaml"
    extra.write_text("x: {}\n")
    with local.LocalComfyUI(str(comfy), str(lib), python=sys.executable, models_configs=[str(extra)],
                            cpu=True) as c:
        import json
        argv = json.loads((comfy / "argv.json").read_text())
        tmp = c.tmp
        assert argv[:2] == ["--listen", "127.0.0.1"] and "--disable-auto-launch" in argv and "--cpu" in argv
        configs = [argv[i + 1] for i, a in enumerate(argv) if a == "--extra-model-paths-config"]
        assert configs[1] == str(extra)
        with open(configs[0]) as fh:
            assert json.dumps(str(lib)) in fh.read()          # the library is ComfyUI's LoRA folder
        assert argv[argv.index("--output-directory") + 1].startswith(tmp)
        child = int((comfy / "child.pid").read_text())
        assert _alive(child) and c.url.startswith("http://127.0.0.1:")
        pid = c.proc.pid
    assert not _alive(pid) and not _alive(child)            # the whole group is gone
    assert not os.path.exists(tmp)


def test_a_comfyui_that_does_not_start_is_reported_with_its_output(tmp_path):
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "main.py").write_text("import sys\nprint('ModuleNotFoundError: No module named torch')\nsys.exit(1)\n")
    c = local.LocalComfyUI(str(comfy), str(tmp_path), python=sys.executable, cpu=True)
    with pytest.raises(LibraryError) as info:
        c.start()
    assert "exited with code 1" in str(info.value) and "No module named torch" in str(info.value)
    assert "--python" in str(info.value) and c.tmp is None and c.proc is None
    with pytest.raises(LibraryError, match="no main.py"):
        local.LocalComfyUI(str(tmp_path / "nowhere"), str(tmp_path))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_local_comfyui_dies_with_a_lora_atlas_killed_outright(tmp_path):
    import signal
    import subprocess
    import time
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "main.py").write_text(STAND_IN)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from lora_atlas.library.previews.local import LocalComfyUI
        c = LocalComfyUI({str(comfy)!r}, {str(tmp_path)!r}, python=sys.executable, cpu=True)
        c.start()
        print(c.proc.pid, c.tmp, flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    pid, tmp = parent.stdout.readline().split()
    pid = int(pid)
    assert _alive(pid)
    parent.send_signal(signal.SIGKILL)                         # no atexit, no finally
    parent.wait()
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    shutil.rmtree(tmp)                                         # what SIGKILL leaves: the temp folder
