"""Benchmark: the pack's import time inside ComfyUI (goal < 150 ms, the library not touched).

Each run is a fresh process of ComfyUI's interpreter (COMFYUI_PYTHON) that first does what
ComfyUI's main.py has done before custom nodes load (ComfyUI on sys.path, `--cpu` parsed, torch,
`folder_paths`, `nodes` and a real `server.PromptServer` instance created), then imports the
pack the way `nodes.load_custom_node` does (spec_from_file_location on the pack's __init__.py,
its path as module name) and times only that. Reports the median of the runs, what the import
registered (node classes, routes) and whether any library or torch work happened (no store
opened, no LoRA folder listed).

    COMFYUI_DIR=... COMFYUI_PYTHON=... python bench/bench_import.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import asyncio, importlib.util, json, os, sys, time
comfy, repo = sys.argv[1], sys.argv[2]
sys.path.insert(0, comfy)
os.chdir(comfy)
sys.argv = [os.path.join(comfy, "main.py"), "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.cli_args
import utils.extra_config
import torch, folder_paths, server, nodes
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
ps = server.PromptServer(loop)
routes_before = len(ps.routes)
opened = []
real_listdir = os.listdir
os.listdir = lambda p=".": (opened.append(str(p)), real_listdir(p))[1]
name = repo.replace(".", "_x_")
t = time.perf_counter()
spec = importlib.util.spec_from_file_location(name, os.path.join(repo, "__init__.py"), submodule_search_locations=[repo])
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
elapsed = time.perf_counter() - t
os.listdir = real_listdir
print(json.dumps({"ms": elapsed * 1000, "nodes": len(module.NODE_CLASS_MAPPINGS),
                  "routes": len(ps.routes) - routes_before, "listdir_calls": opened,
                  "store_modules": sorted(m for m in sys.modules if m.startswith(name) and ".library." in m)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    comfy = os.environ.get("COMFYUI_DIR")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    if not comfy:
        print("COMFYUI_DIR is not set: nothing to measure (this benchmark runs inside a real ComfyUI)")
        return 0
    results = []
    for _ in range(args.runs):
        out = subprocess.run([python, "-c", CHILD, comfy, REPO], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print(out.stderr[-3000:])
            return 1
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    times = sorted(r["ms"] for r in results)
    last = results[-1]
    print(f"pack import inside ComfyUI ({args.runs} fresh processes): median {statistics.median(times):.1f} ms, "
          f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms (goal < 150 ms)")
    print(f"registered {last['nodes']} node classes and {last['routes']} routes; folders listed during the import: "
          f"{len(last['listdir_calls'])}; library modules imported: {len(last['store_modules'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
