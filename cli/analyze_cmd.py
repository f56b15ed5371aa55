"""`lora-atlas analyze PATH... [--json]`: per-block energy, spectrum and text-encoder share."""

from __future__ import annotations

import argparse
import sys

from ..engine.analysis import analyze_file, round_figures
from .output import default_jobs, each_with_progress, lora_paths, print_json, table

HELP = """Measure where each LoRA acts and how hard, from its weights: per Inspire block position the
energy ||dW||^2 of the change ComfyUI applies at strength 1, its share of the file's total, the
largest singular value and the effective rank; the text encoders' share (clip_share).
A folder means its LoRA files, recursively, sorted. A bad file is reported and never stops the run.
JSON figures are rounded to 6 significant digits.

Example:
  lora-atlas analyze ~/ComfyUI/models/loras/styles/ink.safetensors
  lora-atlas analyze ~/ComfyUI/models/loras --json > analysis.json
  lora-atlas analyze ~/ComfyUI/models/loras --jobs 1      # one file at a time, one process"""

BAR = 40


def register(sub) -> None:
    p = sub.add_parser("analyze", help="per-block analysis of LoRA weights", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="LoRA files or folders")
    p.add_argument("--json", action="store_true", help="print one JSON array, one object per file")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help=f"files analysed at once, in worker processes (default {default_jobs()}: one per CPU, "
                        "at most two); the output is the same for any N")
    p.set_defaults(run=run)


def analyze_rounded(path: str) -> dict:
    """One file's analysis as printed (module level: worker processes call it)."""
    return round_figures(analyze_file(path))


def run(args) -> int:
    paths = lora_paths(args.paths)
    jobs = default_jobs() if args.jobs is None else args.jobs
    if jobs < 1:
        print("lora-atlas analyze: --jobs must be 1 or more", file=sys.stderr)
        return 2
    results = each_with_progress(paths, "analyze", analyze_rounded, enabled=not args.json, jobs=jobs)
    if args.json:
        print_json(results)
        return 0
    print("\n\n".join(render(r) for r in results))
    good = sum(r["ok"] for r in results)
    print(f"\n{len(results)} file(s): {good} analysed, {len(results) - good} not usable")
    return 0


def render(r: dict) -> str:
    """One file: a header line, then a table with a bar per block and per text encoder."""
    if not r["ok"]:
        return f"{r['path']}\n  {r['error_code']}: {r['error']}"
    units = "" if r["units"] == "absolute" else "  (relative to the base weight)"
    head = (f"{r['path']}\n  {r['architecture']} {r['adapter']}{' +DoRA' if r['dora'] else ''}  "
            f"total energy {r['total_energy']:g}  clip_share {r['clip_share']:.1%}{units}")
    rows = [(b["name"], b) for b in r["blocks"]] + [(f"te:{name}", t) for name, t in r["text_encoders"].items()]
    top = max((f["share"] for _, f in rows), default=0.0) or 1.0
    body = [[name, f"{f['energy']:.4g}", f"{f['share']:.1%}", f"{f['spectral_norm']:.3g}", f"{f['effective_rank']:.2f}",
             f["modules"], _bar(f["share"] / top)] for name, f in rows]
    lines = [head, _indent(table(body, ["block", "energy", "share", "sigma1", "eff.rank", "modules", ""]))]
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def _bar(fraction: float) -> str:
    eighths = round(max(fraction, 0.0) * BAR * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
