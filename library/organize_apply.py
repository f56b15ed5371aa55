"""Apply an organize plan (library/organize.py): publish its steps in the journal first, then
perform them one by one (make a folder, move a file, write a file atomically), so a crash at any
step leaves a state the next run repairs and `undo` can roll back."""

from __future__ import annotations

import os

from . import fs_safety, journal
from .errors import FilesystemError
from .organize import Plan


def apply(plan: Plan, run=None, progress=None):
    """Publish the plan in the journal, then perform it step by step. A step that fails is
    reported and the rest of its item is skipped; other items go on. Returns the run (None when
    there was nothing to do)."""
    if not plan.ops:
        return run
    if run is None:
        run = journal.begin(plan.root, plan.mode, plan.ops)
        offset = 0
    else:
        offset = len(run.ops)
        run.extend(plan.ops)
    failed_items = set()
    touched = set()
    for i, op in enumerate(plan.ops):
        if progress:
            progress("apply", i, len(plan.ops), op.get("path") or op.get("src"))
        if op["item"] in failed_items:
            continue
        try:
            _perform(run, op, plan.contents.get(i), offset + i)
            touched.add(os.path.dirname(run.abs(op.get("dst") or op.get("path"))))
        except (FilesystemError, OSError) as exc:
            failed_items.add(op["item"])
            plan.problems.append(str(exc) if isinstance(exc, FilesystemError) else
                                 f"{op.get('path') or op.get('src')}: {exc.strerror or exc}")
            for it in plan.items:
                if it.key == op["item"]:
                    it.failed = it.failed or str(exc)
    for folder in sorted(touched):
        fs_safety.fsync_dir(folder)
    if progress:
        progress("apply", len(plan.ops), len(plan.ops), None)
    return run


def _perform(run, op: dict, content: bytes | None, seq: int) -> None:
    kind = op["op"]
    if kind == "mkdir":
        fs_safety.make_folder(run.abs(op["path"]))
    elif kind == "move":
        fs_safety.safe_move(run.abs(op["src"]), run.abs(op["dst"]))
    elif kind == "write":
        path = run.abs(op["path"])
        if op["before"] is not None:
            if fs_safety.sha256_of(path) != op["before"]:
                raise FilesystemError("it changed since the plan was made; run again", "write", path)
            run.backup(seq, op["path"])
        elif os.path.lexists(path):
            raise FilesystemError("it appeared since the plan was made; run again", "write", path)
        fs_safety.atomic_write(path, content)
