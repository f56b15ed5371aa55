"""`check`, `clean`, `organize`, `reconcile`, `undo`, `scan`: the library commands.

Each opens the library, calls one function of `library.operations`, prints. Exit codes: 0 done
(bad files quarantined are a normal outcome), 1 something must be looked at (a step failed,
reconcile found errors), 2 the command could not run (not a folder, library busy, bad --allow).
"""

from __future__ import annotations

import argparse
import sys

from ..library import operations
from . import previews_cmd
from .output import execute as _execute, progress_bar

COMMANDS = {
    "check": ("show what organize would do; change nothing (seed: lora-check)",
              "Scan DIR and print every move, quarantine and config.yaml that organize would make.\n\n"
              "Example:\n  lora-atlas check ~/ComfyUI/models/loras"),
    "clean": ("quarantine incompatible files only (seed: lora-clean)",
              "Move files that are not usable LoRAs to _incompatible/<reason>/ with a note; nothing else.\n"
              "Undo with 'lora-atlas undo DIR'.\n\nExample:\n  lora-atlas clean ~/ComfyUI/models/loras --allow sd1"),
    "organize": ("give every LoRA its own folder, config.yaml and preview (seed: lora-organize)",
                 "Move each LoRA into <category>/<slug>/ with a config.yaml (fields you edit are kept), turn an\n"
                 "embedded thumbnail into preview.png, quarantine incompatible files, write index.json.\n"
                 "Every move is journaled first; 'lora-atlas undo DIR' puts everything back.\n\n"
                 "Example:\n  lora-atlas organize ~/ComfyUI/models/loras --allow sd1,sdxl"),
    "reconcile": ("validate index.json against the folders (seed: lora-reconcile)",
                  "Errors (exit 1) for indexed folders missing or lacking config.yaml or their file; warnings for\n"
                  "folders the index does not list. --repair finishes an interrupted run, writes missing\n"
                  "config.yaml files and rebuilds index.json (it moves no LoRA).\n\n"
                  "Example:\n  lora-atlas reconcile ~/ComfyUI/models/loras || lora-atlas reconcile ~/ComfyUI/models/loras --repair"),
    "undo": ("roll back the last organize or clean",
             "Put back exactly what the last organize (or clean) changed: same paths, same bytes. Repeat to go\n"
             "further back. A config.yaml you edited since is set aside in .lora-atlas/undone/, never deleted.\n\n"
             "Example:\n  lora-atlas undo ~/ComfyUI/models/loras"),
    "scan": ("update the library's store and report new, moved, changed and duplicate files",
             "Incremental: unchanged files cost one stat. --hash also computes (once) every full SHA-256.\n\n"
             "Example:\n  lora-atlas scan ~/ComfyUI/models/loras --hash --json"),
}


def register(sub) -> None:
    for name, (short, long) in COMMANDS.items():
        p = sub.add_parser(name, help=short, description=long, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("dir", metavar="DIR", help="the LoRA root folder")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        if name in ("check", "clean", "organize"):
            p.add_argument("--allow", metavar="ARCH,...", help="only these architectures are compatible (e.g. sd1,sdxl)")
        if name in ("check", "organize"):
            p.add_argument("--no-preview", action="store_true", help="write no preview images")
        if name == "organize":
            previews_cmd.add_runner_flags(p)     # render the missing previews after organizing
        if name == "reconcile":
            p.add_argument("--repair", action="store_true", help="finish interrupted runs, rewrite configs and index")
        if name == "scan":
            p.add_argument("--hash", action="store_true", help="compute every full SHA-256 (AutoV2) once")
        p.set_defaults(run=_RUNNERS[name])


def _summary(result) -> str:
    s = result.scan
    counts = {}
    for item in result.plan.items:
        counts[item.action] = counts.get(item.action, 0) + 1
    parts = [f"{n} {a}" for a, n in sorted(counts.items())] or ["nothing to do"]
    line = f"{s.files} file(s) scanned ({s.read} read, {s.unchanged} unchanged); " + ", ".join(parts)
    if result.run:
        line += f"; journal run {result.run} (undo with 'lora-atlas undo {result.root}')"
    return line


def _render_run(result) -> None:
    if result.recovered:
        print("\n".join(result.recovered))
    print(result.plan.show())
    for group in result.scan.duplicates:
        print(f"duplicate content (kept, not deleted): {', '.join(group)}")
    for p in result.problems:
        print(f"problem: {p}", file=sys.stderr)
    print(_summary(result))


def _run_failed(result) -> int:
    return 1 if any(i.failed for i in result.plan.items) else 0


def run_check(args) -> int:
    return _execute(args, "check", lambda: operations.check(args.dir, allow=args.allow, previews=not args.no_preview),
                    _render_run, lambda r: 0)


def run_clean(args) -> int:
    return _execute(args, "clean", lambda: operations.organize(args.dir, mode="clean", allow=args.allow,
                                                               progress=progress_bar(not args.json)),
                    _render_run, _run_failed)


def run_organize(args) -> int:
    def call():
        result = operations.organize(args.dir, allow=args.allow, previews=not args.no_preview,
                                     progress=progress_bar(not args.json))
        if args.no_preview or not previews_cmd.renders(args):
            return result
        return _WithPreviews(result, previews_cmd.render_with(args, args.dir, progress=progress_bar(not args.json)))

    def show(r):
        if isinstance(r, _WithPreviews):
            _render_run(r.organized)
            previews_cmd.show(r.previews, args)
        else:
            _render_run(r)

    def code(r):
        if isinstance(r, _WithPreviews):
            return max(_run_failed(r.organized), previews_cmd.exit_code(r.previews))
        return _run_failed(r)
    return _execute(args, "organize", call, show, code)


class _WithPreviews:
    """`organize --server/--comfyui`: the organize result, then the previews rendered after it."""

    def __init__(self, organized, previews):
        self.organized, self.previews = organized, previews

    def to_dict(self) -> dict:
        return dict(self.organized.to_dict(), previews=self.previews.to_dict())


def _render_reconcile(report) -> None:
    for prefix, lines in (("repaired", report.repaired), ("error", report.errors), ("warning", report.warnings)):
        for line in lines:
            print(f"{prefix}: {line}")
    print(f"{report.indexed} indexed LoRA(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


def run_reconcile(args) -> int:
    return _execute(args, "reconcile", lambda: operations.reconcile_library(args.dir, repair=args.repair,
                                                                            progress=progress_bar(not args.json)),
                    _render_reconcile, lambda r: 0 if r.ok else 1)


def _render_undo(report) -> None:
    for path, where in report.set_aside:
        print(f"kept your edited {path} at {where}")
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"undid run {report.run} ({report.kind}): {len(report.restored)} path(s) restored")


def run_undo(args) -> int:
    return _execute(args, "undo", lambda: operations.undo(args.dir), _render_undo, lambda r: 1 if r.problems else 0)


def _render_scan(report) -> None:
    for old, new in report.moved:
        print(f"moved      {old} -> {new}")
    for group in report.duplicates:
        print(f"duplicates {', '.join(group)}")
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"{report.files} file(s): {len(report.new)} new, {len(report.changed)} changed, {len(report.moved)} moved, "
          f"{len(report.vanished)} gone, {report.unchanged} unchanged, {len(report.duplicates)} duplicate group(s)")


def run_scan(args) -> int:
    return _execute(args, "scan", lambda: operations.scan_library(args.dir, full_hash=args.hash,
                                                                  progress=progress_bar(not args.json)),
                    _render_scan, lambda r: 0)


_RUNNERS = {"check": run_check, "clean": run_clean, "organize": run_organize, "reconcile": run_reconcile,
            "undo": run_undo, "scan": run_scan}
