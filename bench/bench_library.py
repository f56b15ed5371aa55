"""Benchmark: the library on a 10,000-file root (sparse files: real headers, weights as holes).

1. Cold scan: empty store, every file fingerprinted and inspected from its header.
2. Warm rescan, nothing changed: one stat per file, nothing read (goal <= 2% of the cold scan).
3. Rescan after 100 changes (34 added, 33 moved to another folder, 33 rewritten): the cost should
   follow the 100, not the 10,000.
4. Organize: every file into its own folder with a config.yaml (fsync on), index.json written;
   then a second organize with nothing to do; then undo of the whole run.

Page cache warm (the files were just written). The library is built by bench_inspect.build (same
mix of SD1, SDXL, Flux fixtures at several ranks) in 10 folders of 1,000.

    python bench/bench_library.py [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_inspect import build  # noqa: E402

from lora_atlas.library import operations, scan as scan_mod  # noqa: E402
from lora_atlas.library.scan import scan  # noqa: E402
from lora_atlas.library.store import Store  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def change_100(files: list, lib: str) -> None:
    """34 new files, 33 moved to another folder, 33 rewritten (different header)."""
    for i, path in enumerate(files[:34]):
        shutil.copyfile(path, os.path.join(lib, "new", f"added_{i}.safetensors"))
        with open(os.path.join(lib, "new", f"added_{i}.safetensors"), "r+b") as fh:
            fh.seek(os.path.getsize(path) - 1)
            fh.write(b"\1")                            # distinct content, same header
    for path in files[100:133]:
        os.rename(path, os.path.join(lib, "moved", os.path.basename(path)))
    for path in files[200:233]:
        with open(path, "r+b") as fh:
            fh.seek(40)
            fh.write(b"X")                             # inside the header's metadata: a new file


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="lora-atlas-bench-library-")
    try:
        t = time.perf_counter()
        files = build(tmp, args.files)
        lib = os.path.join(tmp, "lib")
        os.makedirs(os.path.join(lib, "new"))
        os.makedirs(os.path.join(lib, "moved"))
        print(f"library: {len(files)} sparse files in 10 folders (built in {time.perf_counter() - t:.1f} s)")
        n = len(files)

        engine = [0.0]
        real_inspect = scan_mod.inspect_file

        def inspect_timed(path):
            t0 = time.perf_counter()
            try:
                return real_inspect(path)
            finally:
                engine[0] += time.perf_counter() - t0
        scan_mod.inspect_file = inspect_timed
        store = Store.open(lib)
        cold, report = timed(lambda: scan(store, lib))
        assert report.read == n, report.read
        print(f"cold scan             : {cold:7.2f} s   {cold / n * 1e3:.3f} ms/file   ({report.read} read; "
              f"engine inspect_file {engine[0]:.2f} s of it, the library's own work {cold - engine[0]:.2f} s "
              f"= {(cold - engine[0]) / n * 1e3:.3f} ms/file)")
        warm, report = timed(lambda: scan(store, lib))
        assert report.read == 0 and report.unchanged == n
        print(f"warm rescan           : {warm:7.3f} s   {warm / n * 1e6:.1f} us/file   "
              f"{warm / cold * 100:.2f}% of cold (goal <= 2%)")
        change_100(files, lib)
        delta, report = timed(lambda: scan(store, lib))
        print(f"rescan, 100 changed   : {delta:7.3f} s   {delta / cold * 100:.2f}% of cold, {report.read} file(s) read; "
              f"{len(report.new)} new, {len(report.moved)} moved, {len(report.changed)} changed "
              f"(minus warm rescan: {(delta - warm) / 100 * 1e3:.2f} ms per changed file)")
        store.close()

        org, result = timed(lambda: operations.organize(lib, previews=False))
        moved = sum(1 for i in result.plan.items if i.action == "organize")
        print(f"organize              : {org:7.2f} s   {moved / org:.0f} LoRAs/s   ({moved} moved, "
              f"{len(result.plan.ops)} journaled steps, fsync on)")
        again, result = timed(lambda: operations.organize(lib, previews=False))
        assert result.run is None
        print(f"organize, nothing new : {again:7.3f} s   {again / org * 100:.2f}% of the first organize")
        undo, report = timed(lambda: operations.undo(lib))
        print(f"undo                  : {undo:7.2f} s   {len(report.restored) / undo:.0f} paths/s restored")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
