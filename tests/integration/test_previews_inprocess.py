"""Previews rendered by the ComfyUI the pack runs in (COMFYUI_DIR; 0.3.64 and 0.33.0): no --server,
the in-process queue at low priority, the queue-state route, the A/B pair, undo.

A server of its own (the pack installed as a custom node) over a library of BATCH small SD1 LoRAs
in a folder plus one loose at the root, with a preview_config.json for 64×64 in 2 steps on the
random SD1.5 checkpoint. Tests run in file order (the render first)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from dataclasses import replace

import pytest

from comfy_http import get_json, send   # tests/helpers, via pytest `pythonpath`
from libraries import tree_hashes
from lora_atlas.demo.synthetic_loras import FIXTURES, write_fixture

pytestmark = pytest.mark.integration

CKPT = "sd15_random.safetensors"
BATCH = 2         # a preview costs ~30 s on a loaded 2-core CPU: the order is what is tested
LOW_PRIORITY = 10 ** 12        # nodes/inprocess.py


def tiny_sd1(path, seed: int) -> str:
    """An SD1 LoRA of six modules in IN, MID and OUT blocks: ComfyUI patches it in no time on a CPU
    (the full fixture's 264 modules cost tens of seconds per preview there)."""
    fx = FIXTURES["sd1_lora"]
    unet = fx.parts[0]
    keep = tuple(layer for layer in unet.layers if layer[0].endswith("proj_in")
                 and layer[0].startswith(("down_blocks.0.", "mid_block.", "up_blocks.3.")))
    return write_fixture(replace(fx, parts=(replace(unet, layers=keep),)), path, rank=2, seed=seed)


def build_batch_library(root) -> str:
    root = str(root)
    os.makedirs(os.path.join(root, "batch"))
    for i in range(BATCH):
        tiny_sd1(os.path.join(root, "batch", f"style{i:02d}.safetensors"), 100 + i)
    tiny_sd1(os.path.join(root, "loose.safetensors"), 99)
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    return root


@pytest.fixture(scope="module")
def server(comfy_env, sd15_checkpoint, tmp_path_factory, comfy_launcher):
    with comfy_launcher(comfy_env, sd15_checkpoint, tmp_path_factory.mktemp("inproc"), build_batch_library) as s:
        _, settings = get_json(s, "/lora-atlas/settings")
        s["root"] = [r["path"] for r in settings["roots"]].index(os.path.realpath(s["loras"]))
        yield s


def png_size(path) -> tuple:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def wait_job(server, job_id, timeout=900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = get_json(server, f"/lora-atlas/jobs/{job_id}")
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def user_graph(seed: int) -> dict:
    """A user's own SD1.5 prompt (64×64, 2 steps)."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a user's own prompt", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": seed, "steps": 2, "cfg": 7.0,
                                                  "sampler_name": "euler", "scheduler": "normal", "positive": ["2", 0],
                                                  "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "user"}},
    }


def start_time(entry: dict) -> int:
    for event, data in entry["status"]["messages"]:
        if event == "execution_start":
            return data["timestamp"]
    raise AssertionError(entry["status"])


def keep_pictures(names: dict) -> None:
    """With LORA_ATLAS_PICTURES=DIR, copy the rendered images there (README's docs/ pictures)."""
    out = os.environ.get("LORA_ATLAS_PICTURES")
    if out:
        os.makedirs(out, exist_ok=True)
        for name, path in names.items():
            shutil.copyfile(path, os.path.join(out, name))


def queued_previews(server) -> list:
    _, queue = get_json(server, "/queue")
    return [item for item in queue["queue_running"] + queue["queue_pending"]
            if str(item[3].get("client_id", "")).startswith("lora-atlas-")]


def organize(server) -> None:
    """Every LoRA in a folder of its own (a no-op once done)."""
    status, job = send(server, "POST", "/lora-atlas/jobs/organize", {"root": server["root"], "previews": False})
    assert status == 202 and wait_job(server, job["job"]["id"])["state"] == "done"


def test_previews_render_in_process_at_low_priority_with_ab_and_undo_restores(server):
    """A user prompt queued AFTER a preview runs BEFORE it; every preview and baseline is a 64×64
    PNG through the journal; config/index follow; undo restores the organized library."""
    root = server["loras"]
    organize(server)
    organized = tree_hashes(root)

    status, first = send(server, "POST", "/prompt", {"prompt": user_graph(1), "client_id": "the-users-browser"})
    assert status == 200                                     # keeps the worker busy while previews queue
    status, job = send(server, "POST", "/lora-atlas/jobs/previews", {"root": server["root"], "ab": True})
    assert status == 202, job
    job_id = job["job"]["id"]
    deadline = time.monotonic() + 300
    while not queued_previews(server):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ours = queued_previews(server)
    assert all(item[0] >= LOW_PRIORITY for item in ours), ours
    status, second = send(server, "POST", "/prompt", {"prompt": user_graph(2), "client_id": "the-users-browser"})
    assert status == 200 and second["number"] < LOW_PRIORITY
    _, queue = get_json(server, "/lora-atlas/previews/queue")
    assert queue["job"] == job_id and queue["state"] == "running" and queue["counts"]["running"] in (1, 2), queue
    assert queue["counts"]["pending"] + queue["counts"]["running"] == BATCH + 1, queue    # 2 in ComfyUI's queue at most
    done = wait_job(server, job_id)
    assert done["state"] == "done", done
    report = done["result"]
    assert report["counts"]["ok"] == BATCH + 1 and report["counts"]["failed"] == 0, report

    _, history = get_json(server, "/history?max_items=200")
    previews = [e for e in history.values() if str(e["prompt"][3].get("client_id", "")).startswith("lora-atlas-")]
    assert len(previews) == 2 * (BATCH + 1)                  # each LoRA's preview and its A/B baseline
    assert all(len(e["prompt"]) == 5 for e in history.values())          # no sensitive field in history
    user_start = start_time(history[second["prompt_id"]])
    assert all(start_time(e) > user_start for e in previews), "a preview queued before the user's prompt ran first"

    _, queue = get_json(server, "/lora-atlas/previews/queue")
    assert queue["state"] == "done" and queue["counts"]["done"] == BATCH + 1 and queue["counts"]["pending"] == 0
    assert {lo["state"] for lo in queue["loras"]} == {"done"}

    _, listing = get_json(server, "/lora-atlas/loras?refresh=1&limit=100")
    by_name = {os.path.basename(it["path"]): it for it in listing["items"]}
    assert all(by_name[f"style{i:02d}.safetensors"]["has_preview"] for i in range(BATCH))
    for r in report["results"]:
        assert r["files"][-1].endswith("preview.base.png"), r
        for rel in r["files"]:
            assert png_size(os.path.join(root, rel)) == (64, 64), rel
    folder = os.path.dirname(os.path.join(root, by_name["style00.safetensors"]["path"]))
    pngs = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    assert pngs == ["preview.base.png", "preview.png", "style00.preview.png"]
    with open(os.path.join(folder, "preview.base.png"), "rb") as a, open(os.path.join(folder, "preview.png"), "rb") as b:
        assert a.read() != b.read()                          # the same seed with and without the LoRA
    with open(os.path.join(folder, "config.yaml")) as fh:
        config = fh.read()
    assert "preview_image: preview.png" in config and "this ComfyUI" in config
    with open(os.path.join(root, "index.json")) as fh:
        index = {e["filename"]: e for e in json.load(fh).values()}
    assert index["style00.safetensors"]["has_preview"]

    keep_pictures({"ab_with_lora.png": os.path.join(folder, "preview.png"),
                   "ab_baseline.png": os.path.join(folder, "preview.base.png")})

    status, job = send(server, "POST", "/lora-atlas/jobs/undo", {"root": server["root"]})
    assert status == 202 and wait_job(server, job["job"]["id"])["state"] == "done"
    assert tree_hashes(root) == organized


def find_lora(server, name: str) -> dict:
    """The listing item of LoRA `name` (the listing is rebuilt in the background after a write)."""
    deadline = time.monotonic() + 60
    while True:
        _, listing = get_json(server, "/lora-atlas/loras?refresh=1&limit=100")
        found = [it for it in listing["items"] if os.path.basename(it["path"]) == name + ".safetensors"]
        if found:
            return found[0]
        assert time.monotonic() < deadline, listing
        time.sleep(0.5)


def run_graph(server, graph: dict) -> dict:
    status, queued = send(server, "POST", "/prompt", {"prompt": graph, "client_id": "the-users-browser"})
    assert status == 200, queued
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        _, history = get_json(server, f"/history/{queued['prompt_id']}")
        entry = history.get(queued["prompt_id"])
        if entry and entry["status"].get("status_str") in ("success", "error"):
            return entry
        time.sleep(0.2)
    raise AssertionError("the graph did not finish")


def test_save_as_lora_preview_node_writes_the_image_as_the_loras_preview(server):
    root = server["loras"]
    organize(server)
    item = find_lora(server, "style01")
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 80, "batch_size": 1, "color": 255}},
             "2": {"class_type": "LoraAtlasSavePreview", "inputs": {"images": ["1", 0], "lora_name": item["lora_name"],
                                                                    "overwrite": False}}}
    entry = run_graph(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[-2000:]
    assert entry["outputs"]["2"]["text"][0].startswith("ok: "), entry["outputs"]
    folder = os.path.dirname(os.path.join(root, item["path"]))
    assert png_size(os.path.join(folder, "preview.png")) == (96, 80)
    assert png_size(os.path.join(folder, "style01.preview.png")) == (96, 80)
    with open(os.path.join(folder, "config.yaml")) as fh:
        assert "Save as LoRA Preview" in fh.read()
    _, again = get_json(server, f"/lora-atlas/loras/{item['id']}")
    assert again["has_preview"]


def test_block_grid_from_the_cli_through_the_node(server, capsys):
    from lora_atlas.cli import main
    root = server["loras"]
    organize(server)
    rel = find_lora(server, "style00")["path"]
    code = main(["previews", root, rel, "--grid", "--strengths", "1", "--server", server["url"], "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    (result,) = doc["results"]
    assert result["status"] == "ok" and result["files"] == [os.path.dirname(rel) + "/preview.grid.png"], result
    width, height = png_size(os.path.join(root, result["files"][0]))
    title = "style00.safetensors: block groups x strength, seed "      # + the seed: the image is as wide as its title
    assert width >= max(72 + (64 + 4), 8 + 6 * len(title)) and height == 20 + 18 + 3 * (64 + 4)   # IN, MID, OUT
    keep_pictures({"block_grid.png": os.path.join(root, result["files"][0])})


def wait_state(server, job_id, states, timeout=900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = get_json(server, f"/lora-atlas/jobs/{job_id}")
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}")


def test_a_user_prompt_queued_after_20_previews_runs_before_them_and_cancel_takes_the_rest_back(server):
    """20 LoRAs asked for: the user's prompt, queued once the first preview is in ComfyUI's queue,
    ends while at least 17 previews have not started; a cancel then ends the job `cancelled` with
    none of its prompts left in ComfyUI's queue, and the previews already written kept."""
    many = [f"many/m{i:02d}.safetensors" for i in range(20)]
    os.makedirs(os.path.join(server["loras"], "many"), exist_ok=True)
    for i, rel in enumerate(many):
        tiny_sd1(os.path.join(server["loras"], rel), 200 + i)
    status, job = send(server, "POST", "/lora-atlas/jobs/previews", {"root": server["root"], "paths": many})
    assert status == 202, job
    job_id = job["job"]["id"]
    deadline = time.monotonic() + 300
    while not queued_previews(server):
        assert time.monotonic() < deadline, "no preview reached ComfyUI's queue"
        time.sleep(0.05)
    status, user = send(server, "POST", "/prompt", {"prompt": user_graph(20), "client_id": "the-users-browser"})
    assert status == 200 and user["number"] < LOW_PRIORITY
    deadline = time.monotonic() + 900
    while True:
        _, history = get_json(server, f"/history/{user['prompt_id']}")
        if user["prompt_id"] in history:
            break
        assert time.monotonic() < deadline, "the user's prompt never ran"
        time.sleep(0.2)
    assert history[user["prompt_id"]]["status"]["status_str"] == "success"
    _, queue = get_json(server, "/lora-atlas/previews/queue")
    assert queue["job"] == job_id and queue["total"] == 20, queue
    assert queue["counts"]["pending"] >= 17, queue         # the user did not wait for the 20 previews

    status, answer = send(server, "POST", f"/lora-atlas/jobs/{job_id}/cancel", {})
    assert status == 200, answer
    ended = wait_state(server, job_id, ("cancelled", "done", "failed"))
    assert ended["state"] == "cancelled", ended
    assert not queued_previews(server)                     # its waiting prompts were taken back
    results = {r["path"]: r for r in ended["result"]["results"]}
    assert set(results) == set(many)
    ok = [p for p, r in results.items() if r["status"] == "ok"]
    assert len(ok) <= 4 and all(r["status"] in ("ok", "cancelled") for r in results.values()), results
    for rel in ok:
        stem = os.path.basename(rel)[:-len(".safetensors")]
        assert png_size(os.path.join(server["loras"], "many", stem + ".preview.png")) == (64, 64)
