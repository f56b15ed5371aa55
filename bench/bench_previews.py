"""Benchmark: what LoRA Atlas's previews runner costs on a real ComfyUI, against the same graphs queued by hand.

Needs a real ComfyUI: COMFYUI_DIR (its folder) and COMFYUI_PYTHON (the interpreter with its
requirements), and an SD1.5 checkpoint: LORA_ATLAS_SD15 (a file), else the random-weight one of the
integration suite is written (tests/integration/sd15_checkpoint.py, ~2 GB, a few minutes). Without
COMFYUI_DIR it says so and exits 0. One private headless ComfyUI (library/previews/local.py) serves
both parts; previews are 64×64 in 2 steps (a small render shows the overhead most).

1. Per-preview overhead. N LoRAs (the suite's comfy library plus SD1 LoRAs up to N):
     by hand   the same API graph (graph.family_graph, same settings, another seed so nothing is
               cached), POST /prompt all N at once, wait until the server's queue is empty, GET /view
               each image: the fastest a script can go (the server never idles);
     runner    render_previews(root, [LiveComfyClient]) --all: selection, models checked against the
               server, 2 prompts in flight, websocket follow, image fetch, journaled writes, index.
   A warm-up round first (checkpoint loaded, caches filled); by-hand rounds before and after the
   runner, their mean is the baseline. Goal: runner <= by hand + 5 % per preview.
2. Route p99 on that server (GET /prompt, /system_stats, /queue; sequential requests) while it
   renders: (a) by-hand previews one at a time, (b) the runner (it never keeps more than 2 of its
   prompts in the server's queue, however many LoRAs the run has), (c) 1,000 previews queued by hand
   at once (the way that costs the server). Goal: (b) <= (a) + 10 %.

    COMFYUI_DIR=... COMFYUI_PYTHON=... LORA_ATLAS_SD15=... python bench/bench_previews.py [--previews 6] [--queued 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))

CKPT = "sd15_random.safetensors"


def checkpoint(comfy_dir: str, python: str, tmp: str) -> str:
    given = os.environ.get("LORA_ATLAS_SD15")
    if given and os.path.isfile(given):
        return given
    out = os.path.join(tmp, CKPT)
    print(f"writing a random SD1.5 checkpoint to {out} (set LORA_ATLAS_SD15 to skip this)", flush=True)
    subprocess.run([python, os.path.join(REPO, "tests", "integration", "sd15_checkpoint.py"), "--comfyui", comfy_dir,
                    out], check=True, capture_output=True)
    return out


def build(tmp: str, n: int, ckpt: str) -> tuple:
    from libraries import build_comfy_library
    from lora_atlas.demo.synthetic_loras import write_fixture
    from lora_atlas.library import operations
    root = build_comfy_library(os.path.join(tmp, "lib"))
    for i in range(max(0, n - 2)):
        write_fixture("sd1_lora", os.path.join(root, "concepts", f"extra{i}.safetensors"), rank=2, seed=100 + i)
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    operations.organize(root, previews=False)
    models = os.path.join(tmp, "models", "checkpoints")
    os.makedirs(models)
    os.symlink(ckpt, os.path.join(models, CKPT))
    yaml = os.path.join(tmp, "models.yaml")
    with open(yaml, "w") as fh:
        fh.write(f"bench:\n  base_path: {os.path.join(tmp, 'models')}\n  checkpoints: checkpoints\n")
    return root, yaml


def hand_graphs(root: str, seed_offset: int) -> list:
    """The runner's own graphs for the SD1 LoRAs, with another seed (so ComfyUI caches nothing)."""
    from lora_atlas.library.previews import graph, prompts, render
    from lora_atlas.library.previews import settings as S
    settings = S.load_settings(root)
    plan = render.plan_previews(root, select="all", force=True)
    out = []
    for r in plan.results:
        if r.status != "planned" or "ink_xl" in r.path or "watercolor" in r.path:   # what the runner renders
            continue
        p = prompts.preview_prompt(settings, r.path)
        out.append(graph.family_graph(settings, "sd1", r.path, p, seed=graph.preview_seed(r.path) + seed_offset,
                                      filename_prefix=f"bench/{seed_offset}/{len(out)}"))
    return out


def http(url: str, doc=None):
    data = None if doc is None else json.dumps(doc).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def by_hand(url: str, graphs: list) -> float:
    """Queue every graph at once, wait for an empty queue, fetch each image: seconds per preview."""
    t0 = time.perf_counter()
    ids = [json.loads(http(url + "/prompt", {"prompt": g, "client_id": "bench"}))["prompt_id"] for g in graphs]
    while json.loads(http(url + "/prompt"))["exec_info"]["queue_remaining"]:
        time.sleep(0.02)
    for pid in ids:
        entry = json.loads(http(f"{url}/history/{pid}"))[pid]
        for out in entry["outputs"].values():
            for img in out.get("images", []):
                http(f"{url}/view?filename={img['filename']}&subfolder={img['subfolder']}&type=output")
    return (time.perf_counter() - t0) / len(graphs)


def runner(url: str, root: str) -> tuple:
    from lora_atlas.library.previews import render
    from lora_atlas.library.previews.live import LiveComfyClient
    t0 = time.perf_counter()
    report = render.render_previews(root, [LiveComfyClient(url)], select="all")
    ok = report.count("ok")
    assert ok, [(r.path, r.status, r.reason) for r in report.results]
    return (time.perf_counter() - t0) / ok, ok


def route_p99(url: str, stop: threading.Event, requests: int) -> dict:
    """p99 (ms) of sequential GETs of three routes until `requests` each or `stop`."""
    times = {"/prompt": [], "/system_stats": [], "/queue": []}
    while not stop.is_set() and min(len(v) for v in times.values()) < requests:
        for path, got in times.items():
            t0 = time.perf_counter()
            http(url + path)
            got.append((time.perf_counter() - t0) * 1000)
    return {path: sorted(v)[min(len(v) - 1, int(0.99 * (len(v) - 1)))] for path, v in times.items() if v}


def during(url: str, work, requests: int) -> dict:
    stop = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(route_p99(url, stop, requests)))
    t.start()
    try:
        work()
    finally:
        stop.set()
        t.join()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--previews", type=int, default=6)
    ap.add_argument("--queued", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=100)
    a = ap.parse_args()
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy or not os.path.isfile(os.path.join(comfy, "main.py")):
        print("bench_previews: set COMFYUI_DIR (and COMFYUI_PYTHON) to a real ComfyUI; skipped")
        return 0
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    from lora_atlas.library.previews.local import LocalComfyUI
    with tempfile.TemporaryDirectory() as tmp:
        root, yaml = build(tmp, a.previews, checkpoint(comfy, python, tmp))
        with LocalComfyUI(comfy, root, python=python, models_configs=[yaml]) as c:
            url = c.url
            by_hand(url, hand_graphs(root, 1))                     # warm-up: model loaded, caches filled
            before = by_hand(url, hand_graphs(root, 2))
            ours, n = runner(url, root)
            after = by_hand(url, hand_graphs(root, 3))
            base = (before + after) / 2
            print(f"per preview ({n} previews, 64x64, 2 steps): by hand {base * 1000:.0f} ms "
                  f"({before * 1000:.0f} / {after * 1000:.0f}), runner {ours * 1000:.0f} ms: "
                  f"overhead {100 * (ours / base - 1):+.1f} % (goal <= +5 %)")

            def one_at_a_time():
                for g in hand_graphs(root, 4):
                    by_hand(url, [g])
            idle = during(url, one_at_a_time, a.requests)
            with open(os.path.join(root, "preview_config.json")) as fh:
                doc = json.load(fh)
            with open(os.path.join(root, "preview_config.json"), "w") as fh:   # another prompt: nothing cached
                json.dump(dict(doc, prompt="a bench render of {name}"), fh)
            run = during(url, lambda: runner(url, root), a.requests)

            def thousand():
                g = hand_graphs(root, 5)[0]
                for i in range(a.queued):
                    g = json.loads(json.dumps(g))
                    next(n for n in g.values() if n["class_type"] == "KSampler")["inputs"]["seed"] = 10 ** 6 + i
                    http(url + "/prompt", {"prompt": g, "client_id": "bench"})
                time.sleep(2)
            queued = during(url, thousand, a.requests)
            http(url + "/queue", {"clear": True})
            http(url + "/interrupt", {})
            for path in idle:
                print(f"route p99 {path:14} rendering {idle[path]:7.1f} ms | runner {run.get(path, 0):7.1f} ms "
                      f"({100 * (run.get(path, 0) / idle[path] - 1):+.0f} %) | {a.queued} queued by hand "
                      f"{queued.get(path, 0):7.1f} ms ({100 * (queued.get(path, 0) / idle[path] - 1):+.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
