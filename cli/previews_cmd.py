"""`previews`: render every LoRA's preview on ComfyUI servers (library/previews/render.py).

Exit codes: 0 done (or, without --server, the plan was shown), 1 some LoRA failed (each with its
reason), 2 it could not run (not a library, busy, a bad preview_config.json or --server URL).
"""

from __future__ import annotations

import argparse
import sys

from ..library.previews import render
from ..library.previews.client import HttpComfyClient
from .output import execute, progress_bar

HELP = ("Render a preview.png for each LoRA through ComfyUI's own sampler graph (the family's template in\n"
        "preview_config.json), written beside it as preview.png and ComfyUI's <stem>.preview.png through\n"
        "the journal ('lora-atlas undo DIR' removes them), with config.yaml preview_image and index.json\n"
        "has_preview updated. Without --server it only says what it would render. Several --server share\n"
        "the LoRAs. A preview you placed is replaced only with --force (undo restores it).\n\n"
        "Example:\n  lora-atlas previews ~/ComfyUI/models/loras --server http://127.0.0.1:8188")


def register(sub) -> None:
    p = sub.add_parser("previews", help="render LoRA previews on ComfyUI servers", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="the LoRA root folder")
    p.add_argument("paths", nargs="*", metavar="LORA", help="only these LoRAs (paths in DIR)")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="a ComfyUI server (http://host:port); repeat to share the work")
    p.add_argument("--all", action="store_true", help="also re-render previews LoRA Atlas rendered before")
    p.add_argument("--force", action="store_true", help="also replace previews you placed (undo restores them)")
    p.add_argument("--timeout", type=float, default=render.RENDER_TIMEOUT, metavar="S",
                   help="seconds to wait for one preview (default %(default)g)")
    p.add_argument("--ab", action="store_true",
                   help="also render the same seed without the LoRA, saved beside it as preview.base.png")
    p.add_argument("--grid", action="store_true",
                   help="render the block-weight grid of the one LORA given (needs LoRA Atlas on the server)")
    p.add_argument("--strengths", default="0.5,1.0", metavar="LIST", help="the grid's columns (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=run)


def run(args) -> int:
    select = "all" if args.all else "missing"

    def call():
        if args.grid:
            return _grid(args)
        if not args.server:
            return render.plan_previews(args.dir, select=select, paths=args.paths, force=args.force)
        clients = [HttpComfyClient(url) for url in args.server]
        return render.render_previews(args.dir, clients, select=select, paths=args.paths, force=args.force,
                                      timeout=args.timeout, progress=progress_bar(not args.json), ab=args.ab)
    return execute(args, "previews", call, lambda report: _render(report, args), lambda r: 1 if r.failed else 0)


def _grid(args):
    from ..library.errors import InvalidDocument
    from ..library.previews.grid import render_grid
    if len(args.paths) != 1 or len(args.server) != 1:
        raise InvalidDocument(["--grid renders one LoRA on one server: previews DIR LORA --grid --server URL"])
    return render_grid(args.dir, args.paths[0], HttpComfyClient(args.server[0]), strengths=args.strengths,
                       timeout=args.timeout)


def _render(report, args) -> None:
    for line in report.recovered:
        print(line)
    for s in report.servers:
        if s["error"]:
            print(f"server {s['server']}: {s['error']}", file=sys.stderr)
    for r in report.results:
        detail = r.reason or ", ".join(r.files)
        print(f"{r.status:8} {r.path}" + (f"  ({detail})" if detail else "") + (f"  [{r.server}]" if r.server else ""))
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "failed", "skipped", "planned") if report.count(s))
    print(counts or "no LoRA to preview")
    if not args.server:
        if report.count("planned"):
            print(f"to render them: lora-atlas previews {report.root} --server http://127.0.0.1:8188 "
                  "(a running ComfyUI that lists these LoRAs and the templates' models)")
    elif report.run:
        print(f"journal run {report.run} (undo with 'lora-atlas undo {report.root}')")
