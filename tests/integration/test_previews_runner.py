"""The previews runner against real ComfyUI processes (COMFYUI_DIR, COMFYUI_PYTHON; 0.3.64 and 0.33.0).

1. `lora-atlas previews DIR --comfyui PATH --python PY --models-config YAML`: a private headless
   ComfyUI is started from PATH for the run; the SD1 LoRAs get valid 64×64 previews, config.yaml and
   index.json follow, `undo` restores the library, and no ComfyUI process or temp folder is left.
2. Two servers share a run and one is killed (SIGKILL of its process group) as soon as it has
   accepted our prompts: its LoRAs are rendered by the other, every LoRA exactly once, nothing lost.

The library is the suite's comfy library plus four more SD1 LoRAs (six to render); the checkpoint is
the suite's random-weight SD1.5 (`sd15_checkpoint`), found through the models yaml."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

from libraries import build_comfy_library, tree_hashes   # tests/helpers, via pytest `pythonpath`
from lora_atlas.cli import main
from lora_atlas.demo.synthetic_loras import write_fixture
from lora_atlas.library import config_files as cf
from lora_atlas.library.previews import render
from lora_atlas.library.previews.live import LiveComfyClient
from lora_atlas.library.previews.local import LocalComfyUI

pytestmark = pytest.mark.integration

CKPT = "sd15_random.safetensors"
SD1_COUNT = 6


def _png_size(path) -> tuple:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def library(tmp_path, capsys):
    root = build_comfy_library(tmp_path / "lib")
    for i in range(SD1_COUNT - 2):
        write_fixture("sd1_lora", os.path.join(root, "concepts", f"extra{i}.safetensors"), rank=2, seed=100 + i)
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    assert main(["organize", root, "--no-preview"]) == 0
    capsys.readouterr()
    return root


@pytest.fixture
def models_yaml(sd15_checkpoint, tmp_path):
    """An extra_model_paths.yaml naming a folder that holds the random checkpoint (as a user's would)."""
    folder = tmp_path / "models" / "checkpoints"
    folder.mkdir(parents=True)
    os.symlink(sd15_checkpoint, folder / CKPT)
    path = tmp_path / "my_models.yaml"
    path.write_text(f"mine:\n  base_path: {tmp_path / 'models'}\n  checkpoints: checkpoints\n")
    return str(path)


def _comfy_processes(marker: str) -> list:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -eo" not in line]


def _sd1(results) -> dict:
    return {os.path.basename(r["path"]): r for r in results if "ink_xl" not in r["path"]
            and "watercolor" not in r["path"]}


def test_comfyui_mode_starts_renders_and_stops_a_private_comfyui(comfy_env, library, models_yaml, capsys):
    root = library
    organized = tree_hashes(root)
    code = main(["previews", root, "--comfyui", comfy_env["comfyui"], "--python", comfy_env["python"],
                 "--models-config", models_yaml, "--json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 1, out.err                                   # the SDXL LoRA: no SDXL model there
    sd1 = _sd1(doc["results"])
    assert len(sd1) == SD1_COUNT and all(r["status"] == "ok" for r in sd1.values()), sd1
    assert all(r["server"].startswith("http://127.0.0.1:") for r in sd1.values())
    ink = [r for r in doc["results"] if "ink_xl" in r["path"]][0]
    assert ink["status"] == "failed" and "templates.sdxl.checkpoint" in ink["reason"]
    with open(os.path.join(root, "index.json")) as fh:
        index = {e["filename"]: e for e in json.load(fh).values()}
    for name, r in sd1.items():
        assert len(r["files"]) == 2 and all(_png_size(os.path.join(root, f)) == (64, 64) for f in r["files"])
        folder = os.path.dirname(r["files"][0])
        config = cf.read_config(os.path.join(root, folder, "config.yaml"))
        assert config["preview_image"] == "preview.png" and config["preview_render"]["steps"] == 2
        assert index[name]["has_preview"]
    assert _comfy_processes("lora-atlas-comfyui-") == []        # stopped, nothing left running
    assert doc["run"]
    assert main(["undo", root]) == 0
    assert tree_hashes(root) == organized


def _has_our_prompts(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/queue", timeout=5) as r:
            q = json.loads(r.read())
    except OSError:
        return False
    return bool(q.get("queue_running") or q.get("queue_pending"))


def test_two_servers_share_a_run_and_a_killed_one_leaves_its_loras_to_the_other(comfy_env, library, models_yaml):
    root = library
    kw = dict(python=comfy_env["python"], models_configs=[models_yaml])
    with LocalComfyUI(comfy_env["comfyui"], root, **kw) as a, LocalComfyUI(comfy_env["comfyui"], root, **kw) as b:
        killed = threading.Event()

        def kill_b_once_it_has_work():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not _has_our_prompts(b.url):
                time.sleep(0.05)
            os.killpg(b.proc.pid, signal.SIGKILL)               # mid-run: it has accepted our prompts
            killed.set()
        threading.Thread(target=kill_b_once_it_has_work, daemon=True).start()
        report = render.render_previews(root, [LiveComfyClient(a.url), LiveComfyClient(b.url)], timeout=600)
        assert killed.is_set()
    results = _sd1([r.to_dict() for r in report.results])
    assert len(results) == SD1_COUNT
    assert all(r["status"] == "ok" and r["server"] == a.url for r in results.values()), results
    assert [s for s in report.servers if s["server"] == b.url][0]["error"]      # b went away
    assert len([r for r in report.results if r.status == "ok"]) == SD1_COUNT    # each LoRA once
    for r in results.values():
        assert all(_png_size(os.path.join(root, f)) == (64, 64) for f in r["files"])
    assert _comfy_processes("lora-atlas-comfyui-") == []


def test_a_cancelled_run_takes_its_waiting_prompts_back_and_a_rerun_renders_the_rest(comfy_env, library,
                                                                                     models_yaml):
    from lora_atlas.library.previews.dispatch import Cancel
    root = library
    with LocalComfyUI(comfy_env["comfyui"], root, python=comfy_env["python"], models_configs=[models_yaml]) as c:
        cancel = Cancel()

        def cancel_once_two_are_queued():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with urllib.request.urlopen(c.url + "/queue", timeout=5) as r:
                    q = json.loads(r.read())
                if len(q["queue_running"]) + len(q["queue_pending"]) >= 2:
                    break
                time.sleep(0.05)
            cancel.request()
        threading.Thread(target=cancel_once_two_are_queued, daemon=True).start()
        report = render.render_previews(root, [LiveComfyClient(c.url)], cancel=cancel, timeout=600)
        with urllib.request.urlopen(c.url + "/queue", timeout=5) as r:
            q = json.loads(r.read())
        assert q["queue_running"] == [] and q["queue_pending"] == []       # nothing of ours left there
        results = _sd1([r.to_dict() for r in report.results])
        done = sorted(n for n, r in results.items() if r["status"] == "ok")
        stopped = sorted(n for n, r in results.items() if r["status"] == "cancelled")
        assert report.cancelled and done and stopped and len(done) + len(stopped) == SD1_COUNT, results
        for n in done:
            assert all(_png_size(os.path.join(root, f)) == (64, 64) for f in results[n]["files"])
        rerun = render.render_previews(root, [LiveComfyClient(c.url)], timeout=600)
    again = _sd1([r.to_dict() for r in rerun.results])
    assert sorted(n for n, r in again.items() if r["status"] == "ok") == stopped     # only the rest
    assert all(again[n]["status"] == "skipped" for n in done)
