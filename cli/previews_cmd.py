"""`previews`: render every LoRA's preview on ComfyUI servers (library/previews/render.py), remote
(--server, several at once) or on a private headless ComfyUI started for the run (--comfyui).

Ctrl-C once: no new preview starts, ours still waiting in a server's queue are deleted, the ones
rendering finish and are written; twice: those are interrupted too; three times: stop at once
(the journal keeps what was written either way). SIGTERM counts as a second Ctrl-C.

Exit codes: 0 done (or, without --server/--comfyui, the plan was shown), 1 some LoRA failed (each
with its reason), 2 it could not run (not a library, busy, a bad preview_config.json or --server
URL, ComfyUI did not start), 130 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from ..library.previews import render
from ..library.previews.client import HttpComfyClient
from ..library.previews.dispatch import Cancel
from ..library.previews.live import LiveComfyClient
from ..library.previews.local import LocalComfyUI
from .output import execute, progress_bar

HELP = ("Render a preview.png for each LoRA through ComfyUI's own sampler graph (the family's template in\n"
        "preview_config.json), written beside it as preview.png and ComfyUI's <stem>.preview.png through\n"
        "the journal ('lora-atlas undo DIR' removes them), with config.yaml preview_image and index.json\n"
        "has_preview updated. Without --server or --comfyui it only says what it would render.\n"
        "Several --server share the LoRAs (the least busy first; a LoRA that fails on one is retried on\n"
        "another). --comfyui starts a private ComfyUI from that folder for the run and stops it after.\n"
        "A preview you placed is replaced only with --force (undo restores it). Ctrl-C stops cleanly;\n"
        "run it again to render the rest.\n\n"
        "Example:\n  lora-atlas previews ~/ComfyUI/models/loras --server http://127.0.0.1:8188\n"
        "  lora-atlas previews ~/loras --comfyui ~/ComfyUI --python ~/ComfyUI/venv/bin/python")


def register(sub) -> None:
    p = sub.add_parser("previews", help="render LoRA previews on ComfyUI servers", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="the LoRA root folder")
    p.add_argument("paths", nargs="*", metavar="LORA", help="only these LoRAs (paths in DIR)")
    add_runner_flags(p)
    p.add_argument("--all", action="store_true", help="also re-render previews LoRA Atlas rendered before")
    p.add_argument("--force", action="store_true", help="also replace previews you placed (undo restores them)")
    p.add_argument("--ab", action="store_true",
                   help="also render the same seed without the LoRA, saved beside it as preview.base.png")
    p.add_argument("--grid", action="store_true",
                   help="render the block-weight grid of the one LORA given (needs LoRA Atlas on the server)")
    p.add_argument("--strengths", default="0.5,1.0", metavar="LIST", help="the grid's columns (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=run)


def add_runner_flags(p) -> None:
    """Where previews render: shared by `previews` and `organize`."""
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="a running ComfyUI (http://host:port); repeat to share the work")
    p.add_argument("--comfyui", metavar="PATH", help="start a private headless ComfyUI from this folder for the run")
    p.add_argument("--python", metavar="PY", help="the interpreter with ComfyUI's requirements (with --comfyui; "
                                                  "default: this one)")
    p.add_argument("--models-config", action="append", default=[], metavar="YAML",
                   help="with --comfyui: an extra_model_paths.yaml naming where your checkpoints are")
    p.add_argument("--timeout", type=float, default=render.RENDER_TIMEOUT, metavar="S",
                   help="seconds to wait for one preview (default %(default)g)")


def renders(args) -> bool:
    return bool(args.server or args.comfyui)


def render_with(args, root: str, *, select: str = "missing", paths=None, force: bool = False, progress=None):
    """Render on --server URLs or a --comfyui started for the call; Ctrl-C / SIGTERM cancel cleanly."""
    cancel = Cancel()
    with _cancel_on_signals(cancel):
        with contextlib.ExitStack() as stack:
            urls = list(args.server)
            if args.comfyui:
                if progress:
                    print(f"starting ComfyUI from {args.comfyui} ...", file=sys.stderr)
                local = stack.enter_context(LocalComfyUI(args.comfyui, root, python=args.python,
                                                         models_configs=args.models_config))
                urls.append(local.url)
            clients = [LiveComfyClient(url) for url in urls]
            return render.render_previews(root, clients, select=select, paths=paths, force=force,
                                          timeout=args.timeout, progress=progress, cancel=cancel,
                                          ab=getattr(args, "ab", False))


@contextlib.contextmanager
def _cancel_on_signals(cancel: Cancel):
    """SIGINT: 1st cancel, 2nd interrupt, 3rd KeyboardInterrupt; SIGTERM: interrupt, then exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_int(signum, frame):
        level = cancel.request()
        if level >= 3:
            raise KeyboardInterrupt
        print("\nstopping: " + ("no new preview starts, the ones rendering finish (Ctrl-C again interrupts them)"
                                if level == 1 else "interrupting the previews rendering (Ctrl-C again quits at once)"),
              file=sys.stderr)

    def on_term(signum, frame):
        if cancel.level >= 2:
            raise SystemExit(143)
        cancel.request(interrupt=True)
    old = signal.signal(signal.SIGINT, on_int), signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


def run(args) -> int:
    select = "all" if args.all else "missing"

    def call():
        if args.grid:
            return _grid(args)
        if not renders(args):
            return render.plan_previews(args.dir, select=select, paths=args.paths, force=args.force)
        return render_with(args, args.dir, select=select, paths=args.paths, force=args.force,
                           progress=progress_bar(not args.json))
    return execute(args, "previews", call, lambda report: show(report, args), exit_code)


def exit_code(report) -> int:
    return 130 if getattr(report, "cancelled", False) else 1 if report.failed else 0


def _grid(args):
    from ..library.errors import InvalidDocument
    from ..library.previews.grid import render_grid
    if len(args.paths) != 1 or len(args.server) != 1:
        raise InvalidDocument(["--grid renders one LoRA on one server: previews DIR LORA --grid --server URL"])
    return render_grid(args.dir, args.paths[0], HttpComfyClient(args.server[0]), strengths=args.strengths,
                       timeout=args.timeout)


def show(report, args) -> None:
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
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "failed", "skipped", "planned", "cancelled")
                       if report.count(s))
    print(counts or "no LoRA to preview")
    if not renders(args):
        if report.count("planned"):
            print(f"to render them: lora-atlas previews {report.root} --server http://127.0.0.1:8188 "
                  "(a running ComfyUI that lists these LoRAs and the templates' models), or "
                  f"lora-atlas previews {report.root} --comfyui ~/ComfyUI (starts one for the run)")
    elif report.run:
        print(f"journal run {report.run} (undo with 'lora-atlas undo {report.root}')")
    if report.cancelled:
        print(f"cancelled: run 'lora-atlas previews {report.root}' again to render the rest")
