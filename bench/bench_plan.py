"""Benchmark of the multi-LoRA planner (issue 5) on 4 Flux-size LoRAs (fp16, generated).

1. Cold plan (files in the page cache, an empty PlanCache: inspections, per-block energies and
   the stack's Gram matrices all computed) versus analysing the same 4 files alone with
   `analyze_file`. The planner reads each file once (engine.interference.stack_gram), so the goal
   is <= 2x the analysis.
2. Warm plan (every figure in the PlanCache; only the files' stat() and the planning maths run).
   Goal <= 50 ms.
3. Adding a fifth LoRA to a warm stack: only the new file's figures and its pairs are missing, but
   the missing pairs need the other files' factors, so one pass over the five runs.
4. The cache kept in the library's store (library/plan_cache_store.py): `lora-atlas plan --root` in a new
   process, cold (empty store) versus warm (the figures the first run stored), and the same
   in-process with a fresh Store and PlanCache (no interpreter start-up).

Timings: best of 3, baseline and plan alternating.

    python bench/bench_plan.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from bench_analyze import FLUX_UNET, best    # same Flux-size file and timing helper as the analysis bench

from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.plan_cache import PlanCache
from lora_atlas.engine.plan_stack import plan_files
from lora_atlas.library import planning
from lora_atlas.library.store import Store
from lora_atlas.demo.synthetic_loras import write_fixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller files (a smoke run)")
    args = parser.parse_args()
    rank = 8 if args.quick else 32
    with tempfile.TemporaryDirectory(prefix="bench_plan_") as root:
        paths = [write_fixture(FLUX_UNET, os.path.join(root, f"flux_{i}.safetensors"), rank=rank, seed=i) for i in range(5)]
        stack, extra = paths[:4], paths[4]
        specs = [(p, 1.0 - 0.1 * i, None) for i, p in enumerate(stack)]
        size = sum(os.path.getsize(p) for p in stack)
        for p in paths:
            analyze_file(p)                       # warm the page cache
        t_an, t_cold = [], []
        for _ in range(3):
            t_an.append(best(lambda: [analyze_file(p) for p in stack], 1))
            t_cold.append(best(lambda: plan_files(specs, policy="balanced", cache=PlanCache()), 1))
        a, c = min(t_an), min(t_cold)
        print(f"4 Flux LoRAs, rank {rank}, {size / 1e6:.0f} MB in all (page cache warm)")
        print(f"  analyze_file x4 (baseline)      : {a:7.3f} s")
        print(f"  plan, cold (empty cache)        : {c:7.3f} s   ratio {c / a:.2f}x (goal <= 2x)")
        cache = PlanCache()
        plan_files(specs, policy="balanced", cache=cache)
        w = best(lambda: plan_files(specs, policy="balanced", cache=cache), 10)
        w_rp = best(lambda: plan_files(specs, policy="role-priority", cache=cache), 10)
        print(f"  plan, warm (balanced)           : {w * 1e3:7.1f} ms (goal <= 50 ms)")
        print(f"  plan, warm (role-priority)      : {w_rp * 1e3:7.1f} ms")
        t = time.perf_counter()
        plan_files(specs + [(extra, 0.5, None)], cache=cache)
        print(f"  plan, 4 warm + 1 new LoRA       : {time.perf_counter() - t:7.3f} s")
        store_section(root, specs)


def store_section(root: str, specs) -> None:
    """Section 4: the PlanCache persisted in the store, across processes."""
    argv = [sys.executable, "-m", "lora_atlas", "plan"] + [f"{p}:{s}" for p, s, _ in specs] + ["--root", root, "--json"]

    def cli() -> float:
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - t

    subprocess.run([sys.executable, "-m", "lora_atlas", "--help"], check=True, capture_output=True)  # warm imports
    cold = cli()
    warm = min(cli() for _ in range(3))
    start = min(best(lambda: subprocess.run([sys.executable, "-c", "import lora_atlas.cli"], check=True), 1)
                for _ in range(3))
    print("  store-backed cache (lora-atlas plan --root, each a new process):")
    print(f"    new process, cold (empty store) : {cold:7.3f} s")
    print(f"    new process, warm (from store)  : {warm:7.3f} s   ({cold / warm:.1f}x faster; "
          f"of which {start:.3f} s interpreter + imports)")
    with Store.open(root) as store:
        t_warm = best(lambda: planning.plan_and_record(store, root, specs, history=False, cache=PlanCache()), 5)
    print(f"    in-process, fresh PlanCache warmed from the store: {t_warm * 1e3:7.1f} ms (goal <= 50 ms)")


if __name__ == "__main__":
    main()
