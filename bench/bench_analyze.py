"""Benchmarks for the per-block analysis (issue 3), each against a baseline measured in the same run.

1. Throughput on SDXL- and Flux-size LoRAs (fp16, ranks 16-64, up to hundreds of MB, generated): `analyze_file`
   versus reading the same tensor bytes once from the page cache, two ways: (a) `readinto` of each
   tensor's bytes (the I/O limit), (b) a numpy pass over each tensor's values (memmap `.sum()` in
   its own dtype: the least any float computation on the data costs). Goal >= 0.7x. Two more
   baselines bound every exact method: (c) widen every factor to float32 once (engine.tensors.widen)
   and take its r x r Gram (UᵀU or DDᵀ), nothing else; (d) the Gram products alone, on factors
   already converted and in memory (no reading, no conversion): at rank r they cost 2r flops per
   stored value, so (a)/(d) is the highest ratio any analysis could reach on this machine.
2. Versus the naive way on a Flux-size LoRA: materialise up @ down per module (float32) and take its
   Frobenius norm. This is a lower bound of the naive cost (the naive spectral norm would add an SVD
   of every out x in matrix). Goal >= 20x faster.
3. Peak memory analysing a ~1 GB LoRA, in a fresh subprocess: VmHWM after the analysis minus VmHWM
   after the imports. Goal <= 300 MB.
4. Many files: `lora-atlas analyze --jobs 2` (two worker processes) against `--jobs 1` on the same
   files (the three files above, each hard-linked three times), same output required.

Files are written into a temporary folder and deleted afterwards. Timings: warm page cache, best of
3, baseline and analysis alternating.

    python bench/bench_analyze.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from lora_atlas.engine.blas_threads import single_threaded_blas
from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.layout import build_layout
from lora_atlas.engine.safetensors_header import read_header
from lora_atlas.engine.tensors import widen
from lora_atlas.demo.synthetic_loras import FIXTURES, Fixture, Part, flux_layers, write_fixture

FLUX_UNET = Fixture("Flux kohya LoRA, diffusion model only", [Part(flux_layers(), "kohya_unet")],
                    {"modelspec.architecture": "flux-1-dev/lora"})


def best(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def read_bytes(path: str) -> None:
    header = read_header(path)
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(max((t.end - t.begin for t in header.tensors.values()), default=0))
        view = memoryview(buf)
        for begin, end in (t.data_offsets for t in header.tensors.values()):
            fh.seek(header.data_start + begin)
            fh.readinto(view[:end - begin])


_NP = {"F16": np.float16, "BF16": np.uint16, "F32": np.float32}


def sum_values(path: str) -> None:
    header = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for dtype, (begin, end) in ((t.dtype, t.data_offsets) for t in header.tensors.values()):
        if end > begin:
            mm[header.data_start + begin:header.data_start + end].view(_NP[dtype]).sum()


def factors(path: str):
    """(dtype, storage view as rows x cols) of every LoRA factor of the file."""
    header = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for dtype, shape, (begin, end) in ((t.dtype, t.shape, t.data_offsets) for t in header.tensors.values()):
        if len(shape) >= 2 and dtype in _NP:
            yield dtype, mm[header.data_start + begin:header.data_start + end].view(_NP[dtype]).reshape(shape[0], -1)


def gram_of(a: np.ndarray) -> np.ndarray:
    return (a.T @ a) if a.shape[0] >= a.shape[1] else (a @ a.T)


def gram_floor(path: str) -> None:
    """Baseline (c): every LoRA factor widened to float32 once and its r x r Gram taken."""
    for dtype, raw in factors(path):
        gram_of(widen(raw, dtype))


def grams_only(converted) -> None:
    """Baseline (d): the r x r Gram products alone, on factors already in memory as float32."""
    for a in converted:
        gram_of(a)


def naive(path: str) -> None:
    """up @ down per module in float32, then ‖ΔW‖_F (alpha/rank applied)."""
    header = read_header(path)
    layout = build_layout(header.tensors)
    mm = np.memmap(path, dtype=np.uint8, mode="r")

    def get(key):
        dtype, shape, begin, end = header.tensors[key]
        return widen(mm[header.data_start + begin:header.data_start + end].view(np.float16).reshape(shape), dtype)

    for m in layout.modules:
        up, down = get(m.roles["up"]), get(m.roles["down"])
        dw = up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)
        np.linalg.norm(dw)


def many_files(root: str, paths: list) -> None:
    """Section 4: the CLI's worker processes against one process, on the same files."""
    from lora_atlas.cli.analyze_cmd import analyze_rounded
    from lora_atlas.cli.output import each_with_progress
    links = []
    for i, path in enumerate(paths):
        for copy in range(3):
            link = os.path.join(root, f"link{i}_{copy}.safetensors")
            os.link(path, link)
            links.append(link)
    size = sum(os.path.getsize(p) for p in links) / 1e6
    outputs, times = {}, {1: [], 2: []}
    for _ in range(2):
        for jobs in (1, 2):
            t = time.perf_counter()
            outputs[jobs] = each_with_progress(links, "analyze", analyze_rounded, enabled=False, jobs=jobs)
            times[jobs].append(time.perf_counter() - t)
    one, two = min(times[1]), min(times[2])
    same = [{**a, "path": None} for a in outputs[1]] == [{**b, "path": None} for b in outputs[2]]
    print(f"many files: {len(links)} files, {size:.0f} MB: --jobs 1 {one:.2f} s ({size / one:.0f} MB/s), "
          f"--jobs 2 {two:.2f} s ({size / two:.0f} MB/s) -> {one / two:.2f}x; same output: {same}")
    for link in links:
        os.remove(link)


def throughput(root: str, name, fixture, rank: int, with_naive: bool) -> str:
    path = os.path.join(root, f"{name}.safetensors")
    write_fixture(fixture, path, rank=rank, dtype="F16")
    size = os.path.getsize(path)
    read_bytes(path)   # warm the page cache
    converted = [widen(raw, dtype) for dtype, raw in factors(path)]
    flops = sum(2.0 * max(a.shape) * min(a.shape) ** 2 for a in converted)
    t_read, t_sum, t_gram, t_only, t_an = [], [], [], [], []
    with single_threaded_blas():
        for _ in range(3):
            t_read.append(best(lambda: read_bytes(path), 1))
            t_sum.append(best(lambda: sum_values(path), 1))
            t_gram.append(best(lambda: gram_floor(path), 1))
            t_only.append(best(lambda: grams_only(converted), 1))
            t_an.append(best(lambda: analyze_file(path), 1))
    converted.clear()   # free the float32 copies before the naive run
    r, s, g, d, a = min(t_read), min(t_sum), min(t_gram), min(t_only), min(t_an)
    mb = size / 1e6
    print(f"{name}: {mb:.0f} MB, rank {rank}, {flops / 1e9:.1f} GFLOP of Gram products")
    print(f"  baseline (a) readinto of every tensor : {r:7.3f} s  {mb / r:7.0f} MB/s")
    print(f"  baseline (b) numpy pass over values   : {s:7.3f} s  {mb / s:7.0f} MB/s")
    print(f"  baseline (c) widen + Gram every factor: {g:7.3f} s  {mb / g:7.0f} MB/s")
    print(f"  baseline (d) Gram products alone      : {d:7.3f} s  {mb / d:7.0f} MB/s  ({flops / d / 1e9:.0f} GFLOP/s, one core)")
    print(f"  analyze_file                          : {a:7.3f} s  {mb / a:7.0f} MB/s")
    print(f"  ratio vs (a): {r / a:.2f}x   vs (b): {s / a:.2f}x   vs (c): {g / a:.2f}x   vs (d): {d / a:.2f}x   (goal >= 0.7x of (a))")
    print(f"  ceiling vs (a) of any method doing these products: {r / d:.2f}x on one core, "
          f"{2 * r / d:.2f}x if two cores scaled perfectly")
    if with_naive:
        t_naive = best(lambda: naive(path), 1)
        print(f"  naive up@down + Frobenius norm        : {t_naive:7.3f} s  -> analysis is {t_naive / a:.1f}x faster (goal >= 20x)")
    return path


_RSS_CHILD = """
import sys
from lora_atlas.engine.blas_threads import single_threaded_blas
from lora_atlas.engine.analysis import analyze_file
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
base = hwm()
r = analyze_file(sys.argv[1])
assert r["ok"], r["error"]
print(base, hwm())
"""


def peak_memory(root: str, rank: int) -> None:
    path = os.path.join(root, "flux_1gb.safetensors")
    write_fixture(FLUX_UNET, path, rank=rank, dtype="F16")
    size = os.path.getsize(path)
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, path], capture_output=True, text=True, check=True).stdout
    base, peak = map(float, out.split())
    print(f"peak memory, Flux rank {rank} LoRA of {size / 1e6:.0f} MB: interpreter after imports {base:.0f} MB, "
          f"peak {peak:.0f} MB -> {peak - base:.0f} MB above baseline (goal <= 300 MB)")
    os.remove(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller files (a smoke run)")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="bench_analyze_") as root:
        files = [throughput(root, "sdxl_lora_r16", FIXTURES["sdxl_lora"], 16 // scale, False),
                 throughput(root, "sdxl_lora", FIXTURES["sdxl_lora"], 64 // scale, False),
                 throughput(root, "flux_lora", FLUX_UNET, 32 // scale, True)]
        many_files(root, files)
        for path in files:
            os.remove(path)
        peak_memory(root, 104 // scale)


if __name__ == "__main__":
    main()
