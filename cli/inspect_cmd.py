"""`lora-atlas inspect PATH... [--json]`: classify LoRA files from their headers."""

from __future__ import annotations

from ..engine.inspect import inspect_file
from .output import each_with_progress, lora_paths, print_json, table

HELP = """Classify LoRA files: architecture, adapter, text encoders, Inspire block positions.
A folder means its LoRA files, recursively, sorted. A bad file is reported and never stops the run.

Example:
  lora-atlas inspect ~/ComfyUI/models/loras --json > inspection.json"""


def register(sub) -> None:
    p = sub.add_parser("inspect", help="classify LoRA files", description=HELP,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="LoRA files or folders")
    p.add_argument("--json", action="store_true", help="print one JSON array, one object per file")
    p.set_defaults(run=run)


def run(args) -> int:
    paths = lora_paths(args.paths)
    results = each_with_progress(paths, "inspect", inspect_file, enabled=not args.json)
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    print(render(results))
    return 0


def render(results) -> str:
    rows = []
    for r in results:
        name = r.path
        if r.ok:
            arch = r.architecture + (f" ({r.variant})" if r.variant else "")
            if r.base_model_hint:
                arch += f" [{r.base_model_hint}]"
            adapter = r.adapter + (" +DoRA" if r.dora else "")
            if r.adapter != "full" and {"bias", "norm"} & set(r.adapters or ()):
                adapter += " +diffs"    # bias/norm diffs ComfyUI applies beside the adapter
            rows.append([name, arch, adapter, r.rank or "-", _fmt(r.alpha), ",".join(r.text_encoder) or "-", len(r.blocks), "ok"])
        else:
            rows.append([name, "-", "-", "-", "-", "-", "-", f"{r.error_code}: {r.error}"])
    good = sum(r.ok for r in results)
    summary = f"\n{len(results)} file(s): {good} LoRA(s), {len(results) - good} not usable"
    return table(rows, ["file", "architecture", "adapter", "rank", "alpha", "text encoders", "positions", "status"]) + summary


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}"
