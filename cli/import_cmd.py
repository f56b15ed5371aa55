"""`lora-atlas import-metadata DIR [--json]`: what other tools' sidecars say, changing nothing."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.inspect import inspect_file
from ..library import config_files as cf
from ..library import sidecars
from .output import lora_paths, print_json, table

HELP = """Read the metadata other tools wrote beside each LoRA under DIR (ComfyUI-Lora-Manager
<stem>.metadata.json, A1111/Forge <stem>.json, Civitai Helper <stem>.civitai.info, rgthree
<stem>.rgthree-info.json, previews <stem>.preview.*, <stem>.png|webp|mp4) and show the config.yaml
defaults organize would set from them, with the source of each. Changes nothing. A field you edited
in a config.yaml is shown as kept; disagreeing sources and malformed sidecars are listed.

Example:
  lora-atlas import-metadata ~/ComfyUI/models/loras --json"""


def register(sub) -> None:
    p = sub.add_parser("import-metadata", help="show what other tools' sidecars would set; change nothing",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="a LoRA folder (searched recursively)")
    p.add_argument("--json", action="store_true", help="print one JSON array, one object per LoRA")
    p.set_defaults(run=run)


def run(args) -> int:
    if not os.path.isdir(args.dir):
        print(f"'{args.dir}' is not a folder", file=sys.stderr)
        return 2
    results = [examine(path) for path in lora_paths([args.dir])]
    if args.json:
        print_json(results)
        return 0
    print(render(results, args.dir))
    return 0


def examine(path: str) -> dict:
    """What the sidecars of the LoRA at `path` say and what organize would set from them."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    try:
        names = os.listdir(folder or ".")
    except OSError:
        names = []
    found = sidecars.read_sidecars(folder or ".", stem, names)
    result = inspect_file(path)
    insp = result.to_dict() if result.ok else {}
    values, sources, conflicts = sidecars.defaults(found, insp)
    kept = _edited(os.path.join(folder, cf.CONFIG_NAME), name)
    would = {k: {"value": v, "source": sources.get(k), "kept": k in kept} for k, v in values.items()}
    return {"path": path, "files": found.files, "preview": cf.existing_preview(folder or ".", stem, names),
            "would_set": would, "facts": [f.to_dict() for f in found.facts],
            "problems": found.problems + conflicts}


def _edited(config_path: str, filename: str) -> set:
    """Fields of the LoRA's config.yaml that a person set (organize keeps them)."""
    try:
        doc = cf.read_config(config_path)
    except cf.ConfigUnreadable:
        return set()
    if not doc or doc.get("filename") not in (None, filename):
        return set()
    atlas = doc.get("_atlas") if isinstance(doc.get("_atlas"), dict) else {}
    owned = atlas.get("generated") or {}
    return {k for k, v in doc.items() if k != "_atlas" and owned.get(k) != cf.value_hash(v)}


def render(results: list, root: str) -> str:
    rows, problems = [], []
    for r in results:
        rel = os.path.relpath(r["path"], root)
        for key, w in r["would_set"].items():
            value = sidecars.show(w["value"])
            rows.append([rel, key, value, w["source"], "kept (yours)" if w["kept"] else "would set"])
        problems += [f"{rel}: {p}" for p in r["problems"]]
    with_any = sum(1 for r in results if r["files"] or r["would_set"])
    out = table(rows, ["lora", "field", "value", "source", "organize"]) if rows else "no sidecar metadata found"
    out += f"\n\n{len(results)} LoRA(s), {with_any} with sidecar metadata; nothing was changed"
    if problems:
        out += "\nproblems:\n" + "\n".join(f"  {p}" for p in problems)
    return out
