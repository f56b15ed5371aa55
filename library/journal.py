"""The move journal: every change a run makes is on disk before the first one happens.

    <root>/.lora-atlas/journal/run-0001/plan.json   the run's steps, written atomically first
                                       backup/<seq> the previous bytes of every file a step replaces
                                       state        "committed" or "undone" (absent: running or killed)

Steps (`ops`) are `mkdir`, `move` (src → dst) and `write` (path, sha256 after, sha256 before).
Undo and recovery decide from the files themselves what a step did, so they are correct whether
the run finished, was killed between two steps, or in the middle of one:

* a move is undone if its destination holds the file and its source is free;
* a write is undone if the file still holds what the run wrote; a file a person edited since is
  moved aside to `.lora-atlas/undone/run-N/` instead, never deleted;
* a folder the run created is removed only if empty.
"""

from __future__ import annotations

import filecmp
import json
import os
from dataclasses import dataclass, field

from . import fs_safety
from .errors import FilesystemError, JournalError, NothingToUndo
from .store import STATE_DIR

JOURNAL_DIR = "journal"
UNDONE_DIR = "undone"


@dataclass
class Run:
    root: str
    number: int
    kind: str
    ops: list
    state: str          # running | committed | interrupted | undone

    @property
    def dir(self) -> str:
        return os.path.join(journal_dir(self.root), f"run-{self.number:04d}")

    def abs(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def backup(self, seq: int, rel: str) -> None:
        """Keep the bytes `rel` holds now, before step `seq` replaces them."""
        with open(self.abs(rel), "rb") as fh:
            data = fh.read()
        os.makedirs(os.path.join(self.dir, "backup"), exist_ok=True)
        fs_safety.atomic_write(os.path.join(self.dir, "backup", str(seq)), data)

    def extend(self, ops: list) -> None:
        """Add steps to a running run; the plan is republished before any of them happens."""
        for op in ops:
            op["seq"] = len(self.ops)
            self.ops.append(op)
        _publish(self.dir, self.number, self.kind, self.ops)

    def set_state(self, state: str) -> None:
        fs_safety.atomic_write(os.path.join(self.dir, "state"), state.encode())
        self.state = state


@dataclass
class UndoReport:
    run: int = 0
    kind: str = ""
    restored: list = field(default_factory=list)     # paths put back
    set_aside: list = field(default_factory=list)    # (path, where it went): edited since the run
    problems: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"run": self.run, "kind": self.kind, "restored": self.restored,
                "set_aside": [list(p) for p in self.set_aside], "problems": self.problems}


def journal_dir(root: str) -> str:
    return os.path.join(root, STATE_DIR, JOURNAL_DIR)


def runs(root: str) -> list:
    """Every run recorded for `root`, oldest first."""
    base = journal_dir(root)
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith("run-"))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        folder = os.path.join(base, name)
        try:
            with open(os.path.join(folder, "plan.json"), "rb") as fh:
                plan = json.loads(fh.read())
        except FileNotFoundError:
            continue                      # killed before its plan was published: it did nothing
        except (OSError, ValueError) as exc:
            raise JournalError(f"'{folder}/plan.json' cannot be read ({exc}); the journal is damaged") from None
        try:
            with open(os.path.join(folder, "state")) as fh:
                state = fh.read().strip()
        except FileNotFoundError:
            state = "running"
        out.append(Run(root, plan["run"], plan["kind"], plan["ops"], state))
    return out


def begin(root: str, kind: str, ops: list) -> Run:
    """Publish a run's plan (fsynced) before any of its steps happens."""
    existing = runs(root)
    number = (existing[-1].number if existing else 0) + 1
    folder = os.path.join(journal_dir(root), f"run-{number:04d}")
    fs_safety.makedirs(folder)                 # a full disk is DiskFull here, not a traceback
    for i, op in enumerate(ops):
        op["seq"] = i
    _publish(folder, number, kind, ops)
    return Run(root, number, kind, ops, "running")


def _publish(folder: str, number: int, kind: str, ops: list) -> None:
    doc = {"run": number, "kind": kind, "ops": ops}
    data = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    fs_safety.atomic_write(os.path.join(folder, "plan.json"), data)
    fs_safety.fsync_dir(folder)


def recover(root: str) -> list:
    """Make killed runs safe to build on: finish half-done moves, drop temporary files, and mark
    them interrupted (they stay undoable). Returns one message per run recovered."""
    messages = []
    for run in runs(root):
        if run.state != "running":
            continue
        folders = {root}
        finished = 0
        for op in run.ops:
            target = op.get("dst") or op.get("path")
            folders.add(os.path.dirname(run.abs(target)) if op["op"] != "mkdir" else run.abs(target))
            if op["op"] == "move":
                src, dst = run.abs(op["src"]), run.abs(op["dst"])
                if os.path.lexists(src) and os.path.lexists(dst) and _same_bytes(src, dst):
                    os.unlink(src)        # the destination is a complete copy (or the same inode)
                    finished += 1
        for folder in sorted(folders):
            fs_safety.remove_temps(folder)
        run.set_state("interrupted")
        messages.append(f"run {run.number} ({run.kind}) was interrupted; it is recorded and can be undone"
                        + (f" ({finished} half-done move(s) finished)" if finished else ""))
    _remove_journal_temps(root)
    return messages


def _remove_journal_temps(root: str) -> None:
    """Drop the temporary files a kill left inside the journal itself: a plan, state or backup
    being written atomically. Every run folder is looked at, not only the runs being recovered: a
    kill while publishing a plan leaves a folder `runs()` skips, and one while an undo marks its run
    leaves it in the folder of a finished run."""
    base = journal_dir(root)
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if name.startswith("run-"):
            fs_safety.remove_temps(os.path.join(base, name))
            fs_safety.remove_temps(os.path.join(base, name, "backup"))


def _same_bytes(a: str, b: str) -> bool:
    if fs_safety.same_file(a, b):
        return os.lstat(a).st_nlink > 1
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def undo_last(root: str) -> UndoReport:
    """Roll back the most recent run that is not undone yet."""
    pending = [r for r in runs(root) if r.state in ("committed", "interrupted", "running")]
    if not pending:
        raise NothingToUndo(f"nothing to undo in '{root}': no organize or clean has run (or all are undone)")
    run = pending[-1]
    if run.state == "running":
        recover(root)
        run.state = "interrupted"
    report = UndoReport(run=run.number, kind=run.kind)
    for op in reversed(run.ops):
        try:
            _undo_op(run, op, report)
        except (OSError, FilesystemError) as exc:
            report.problems.append(f"step {op['seq']} ({op['op']} {op.get('path') or op.get('src')}): {exc}")
    run.set_state("undone")
    return report


def _undo_op(run: Run, op: dict, report: UndoReport) -> None:
    kind = op["op"]
    if kind == "mkdir":
        folder = run.abs(op["path"])
        fs_safety.remove_temps(folder)
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            pass
        except OSError:
            if os.path.isdir(folder):
                report.problems.append(f"{op['path']}/: kept, it holds files the run did not put there")
    elif kind == "move":
        src, dst = run.abs(op["src"]), run.abs(op["dst"])
        if not os.path.lexists(dst):
            if not os.path.lexists(src):
                report.problems.append(f"{op['src']}: found neither here nor at '{op['dst']}' (moved since?)")
            return                                     # never happened
        if os.path.lexists(src):
            if _same_bytes(src, dst):
                os.unlink(dst)                         # killed mid-move: the source is intact
            else:
                report.problems.append(f"{op['src']}: something else now has this name; '{op['dst']}' left in place")
            return
        # A link goes back as the link it is, whatever its target holds now (or if it dangles).
        if op.get("size") is not None and not os.path.islink(dst) and os.path.getsize(dst) != op["size"]:
            report.problems.append(f"{op['dst']}: changed since the run (size differs); left in place")
            return
        fs_safety.makedirs(os.path.dirname(src))
        fs_safety.safe_move(dst, src)
        report.restored.append(op["src"])
    elif kind == "write":
        path = run.abs(op["path"])
        current = fs_safety.sha256_of(path)
        if current == op["before"]:
            return                                     # the write never happened
        if current is not None and current != op["sha256"]:
            aside = os.path.join(run.root, STATE_DIR, UNDONE_DIR, f"run-{run.number:04d}", op["path"])
            fs_safety.makedirs(os.path.dirname(aside))
            fs_safety.safe_move(path, aside)
            report.set_aside.append((op["path"], os.path.relpath(aside, run.root).replace(os.sep, "/")))
        if op["before"] is None:
            if os.path.lexists(path):
                os.unlink(path)                        # the run's own file, unchanged since
        else:
            with open(os.path.join(run.dir, "backup", str(op["seq"])), "rb") as fh:
                fs_safety.atomic_write(path, fh.read())
            report.restored.append(op["path"])
