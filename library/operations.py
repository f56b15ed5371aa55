"""The library's commands as functions: what the CLI (and later the routes) call.

Writers (`organize`, `clean`, `repair`, `undo`) hold the library lock, first recover any run a
crash interrupted, then scan, plan, apply and rewrite the index. Readers (`check`, `scan_library`,
`reconcile`) never wait for the lock: when a writer is busy they scan without saving to the store.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ..engine.architecture import ARCHITECTURES
from . import journal
from .errors import FilesystemError, LibraryBusy, LibraryError, StoreError
from .lock import library_lock
from .organize import Plan, build_plan, check_root
from .organize_index import index_plan, record_folders
from .organize_apply import apply
from .reconcile import ReconcileReport, reconcile
from .scan import ScanReport, ensure_sha256, scan
from .store import STATE_DIR, Store


@dataclass
class RunResult:
    root: str
    mode: str
    run: int | None = None
    recovered: list = field(default_factory=list)
    scan: ScanReport | None = None
    plan: Plan | None = None
    problems: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"root": self.root, "mode": self.mode, "run": self.run, "recovered": self.recovered,
                "scan": self.scan.to_dict() if self.scan else None,
                "plan": self.plan.to_dict() if self.plan else None, "problems": self.problems}


def parse_allow(value) -> frozenset | None:
    """`"sd1,sdxl"` → frozenset; unknown names raise LibraryError listing the known ones."""
    if not value:
        return None
    names = {v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()}
    unknown = sorted(names - set(ARCHITECTURES))
    if unknown:
        raise LibraryError(f"allow: unknown architecture(s) {', '.join(unknown)}; known: "
                           f"{', '.join(a for a in ARCHITECTURES if a != 'unknown')}")
    return frozenset(names)


def organize(root: str, *, mode: str = "organize", allow=None, previews: bool = True, progress=None,
             now: str | None = None) -> RunResult:
    """Organize (or `clean`, or `repair`) the library at `root`; see organize.py."""
    root = check_root(root)
    allow = parse_allow(allow)
    result = RunResult(root=root, mode=mode)
    with library_lock(root, mode):
        result.recovered = journal.recover(root)
        with Store.open(root) as store:
            result.scan = scan(store, root, progress=progress)
            plan = result.plan = build_plan(root, store, result.scan, mode=mode, allow=allow, previews=previews, now=now)
            run = apply(plan, progress=progress)
            after = scan(store, root) if plan.ops else result.scan
            failed = {it.key for it in plan.items if it.failed}
            record_folders(store, root, [c for c in plan.configs if c[4] not in failed])
            index = index_plan(root, store, after)
            run = apply(index, run)
            if run is not None:
                run.set_state("committed")
                result.run = run.number
            result.problems = result.scan.problems + plan.problems + index.problems
    return result


def check(root: str, *, allow=None, previews: bool = True, now: str | None = None) -> RunResult:
    """What `organize` would do, changing no file."""
    root = check_root(root)
    allow = parse_allow(allow)
    result = RunResult(root=root, mode="check")
    with reader_store(root) as (store, persist):
        result.scan = scan(store, root)
        if not persist:
            result.scan.problems.append("the store was not updated (the library is busy, read-only or its disk is full)")
        result.plan = build_plan(root, store, result.scan, allow=allow, previews=previews, now=now)
    result.problems = result.scan.problems + result.plan.problems
    for run in journal.runs(root):
        if run.state == "running":
            result.problems.append(f"run {run.number} ({run.kind}) was interrupted; organize will finish it safely")
    return result


def scan_library(root: str, *, full_hash: bool = False, progress=None) -> ScanReport:
    """Update the store (when the library is not busy) and report what changed."""
    root = check_root(root)
    with reader_store(root, create=True) as (store, persist):
        report = scan(store, root, progress=progress)
        if full_hash:
            ensure_sha256(store, root, progress=progress)
        if not persist:
            report.problems.append("the store was not updated (the library is busy, read-only or its disk is full)")
    return report


def undo(root: str) -> journal.UndoReport:
    """Roll back the most recent organize or clean (repeat to go further back)."""
    root = check_root(root)
    with library_lock(root, "undo"):
        journal.recover(root)
        report = journal.undo_last(root)
        with Store.open(root) as store:
            scan(store, root)
            record_folders(store, root, [])
    return report


def reconcile_library(root: str, *, repair: bool = False, progress=None) -> ReconcileReport:
    root = check_root(root)
    repaired = []
    if repair:
        done = organize(root, mode="repair", progress=progress)
        repaired = done.recovered + [f"{i.action} {i.path}" for i in done.plan.items] + \
            (["index.json and preview_config.json rewritten"] if done.run else [])
    report = reconcile(root)
    report.repaired = repaired
    return report


@contextlib.contextmanager
def reader_store(root: str, create: bool = False):
    """(store, persist): the library's store if no writer is busy, else an in-memory snapshot of
    it (also when the lock or the store cannot be written: a read-only folder, a full disk).
    Without `create`, a library that has no store yet gets a throwaway one (reading changes
    nothing on disk)."""
    if not create and not os.path.isdir(os.path.join(root, STATE_DIR)):
        with Store.memory() as store:
            yield store, True
        return
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(library_lock(root, "scan"))
        store = stack.enter_context(Store.open(root))
        persist = True
    except (LibraryBusy, StoreError, FilesystemError, OSError):   # busy, read-only or full: read a copy
        stack.close()
        store = stack.enter_context(Store.snapshot(root))
        persist = False
    with stack:
        yield store, persist
