"""Incremental scan of a LoRA root into its store.

An unchanged file (same size, mtime and inode as the store remembers) costs one `stat`. A file
that appears where another vanished with the same (inode, size, mtime) is a move and is not read.
Everything else is fingerprinted (identity.py) and, if its id is new, inspected from its header.
A fingerprint seen at another, still present path is checked with full hashes: same bytes → a
duplicate (reported, never deleted), different bytes → the newcomer gets an id from its full hash.

Store changes are written in one transaction at the end.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..engine.inspect import LORA_EXTENSIONS, inspect_file
from ..engine.safetensors_header import not_regular
from . import identity
from .config_files import CONFIG_NAME
from .store import STATE_DIR

# Bump when the engine's classification changes meaning: cached rows of another version are redone.
CLASSIFIER_VERSION = "inspect-3"            # 2: metadata texts bounded, non-UTF-8 names refused; 3: bias/norm diffs
QUARANTINE_DIR = "_incompatible"


@dataclass
class DiskFile:
    path: str           # relative, '/' separated
    size: int
    mtime_ns: int
    inode: int
    device: int


@dataclass
class ScanReport:
    root: str
    files: int = 0
    unchanged: int = 0
    read: int = 0
    new: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    moved: list = field(default_factory=list)        # (old path, new path)
    vanished: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)   # [[path, ...], ...] same content
    problems: list = field(default_factory=list)     # one line each; the scan went on
    config_dirs: set = field(default_factory=set)    # folders holding a config.yaml
    lora_counts: Counter = field(default_factory=Counter)  # LoRA files per folder

    def to_dict(self) -> dict:
        return {
            "files": self.files, "unchanged": self.unchanged, "read": self.read,
            "new": sorted(self.new), "changed": sorted(self.changed), "moved": sorted(self.moved),
            "vanished": sorted(self.vanished), "duplicates": self.duplicates, "problems": self.problems,
        }


def is_lora_name(name: str) -> bool:
    return name.lower().endswith(LORA_EXTENSIONS) and not name.startswith(".")


def walk(root: str, report: ScanReport, progress=None) -> dict:
    """Every LoRA-extension file under `root` → DiskFile, one stat each. Hidden entries, symlinked
    folders (loops), nested libraries, unreadable folders and LoRA names that are not regular
    files (a FIFO, a device: never opened) are skipped with a message."""
    found = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            report.problems.append(f"{rel_dir or '.'}/: folder skipped, cannot list it ({exc.strerror or exc})")
            continue
        names = {e.name for e in entries}
        if rel_dir and STATE_DIR in names:
            report.problems.append(f"{rel_dir}/: another LoRA library (it has its own {STATE_DIR}/); not scanned")
            continue
        if CONFIG_NAME in names:
            report.config_dirs.add(rel_dir)
        subdirs = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                report.problems.append(f"{rel!r}: name is not valid UTF-8, skipped; rename it")
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(rel)
                    continue
                if entry.is_symlink() and entry.is_dir():
                    report.problems.append(f"{rel}: symbolic link to a folder, not followed")
                    continue
                if not is_lora_name(name):
                    continue
                st = entry.stat()
            except FileNotFoundError:
                report.problems.append(f"{rel}: vanished during the scan (or a broken link), skipped")
                continue
            except OSError as exc:
                report.problems.append(f"{rel}: cannot stat ({exc.strerror or exc}), skipped")
                continue
            unreadable = not_regular(st.st_mode)
            if unreadable is not None:            # a FIFO would block every later read forever
                report.problems.append(f"{rel}: unreadable, it {unreadable}; skipped, never opened")
                continue
            found[rel] = DiskFile(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
            report.lora_counts[rel_dir] += 1
            if progress and len(found) % 1000 == 0:
                progress("walk", len(found), None, rel)
        stack.extend(reversed(subdirs))
    return found


def lora_files_under(folder: str) -> tuple[list, list]:
    """(paths of the LoRA files under `folder`, sorted; what was skipped and why): the same walk
    and skip rules as a scan, for commands that take a folder as a list of files."""
    report = ScanReport(root=folder)
    found = walk(folder, report)
    return [os.path.join(folder, rel) for rel in sorted(found)], report.problems


def scan(store, root: str, *, progress=None) -> ScanReport:
    """Bring the store up to date with the files under `root` (see the module docstring)."""
    return _Scan(store, os.path.abspath(root), progress).run()


class _Scan:
    """One scan's working state, in the order of its steps: walk and diff against the store; moves
    that kept their inode, size and mtime (no read); read the rest (fingerprint, identity,
    classification); classify what an older classifier saw; write it all in one transaction."""

    def __init__(self, store, root: str, progress):
        self.store, self.root, self.progress = store, root, progress
        self.report = ScanReport(root=root)
        self.upserts: dict = {}        # path -> row dict to write
        self.classifications: list = []
        self.sha_updates: dict = {}

    def run(self) -> ScanReport:
        report = self.report
        self.disk = walk(self.root, report, self.progress)
        report.files = len(self.disk)
        self.known = {r["path"]: r for r in self.store.execute(
            "SELECT path, lora_id, size, mtime_ns, inode, device, fingerprint, sha256 FROM files")}
        self.classified = {r[0] for r in self.store.execute(
            "SELECT lora_id FROM classification WHERE engine_version = ?", (CLASSIFIER_VERSION,))}
        todo = self._changed_paths()
        self.vanished = {p: self.known[p] for p in self.known if p not in self.disk}
        self._read(self._moved_by_stat(todo))
        self._classify_stale()
        report.vanished = sorted(self.vanished)
        self._write()
        report.moved.sort()
        return report

    def _changed_paths(self) -> list:
        todo = []
        for path, f in self.disk.items():
            row = self.known.get(path)
            if row and (row["size"], row["mtime_ns"], row["inode"]) == (f.size, f.mtime_ns, f.inode):
                self.report.unchanged += 1
            else:
                todo.append(path)
        return todo

    def _moved_by_stat(self, todo) -> list:
        """Take the moves that kept inode, size and mtime; return the paths still to read."""
        by_stat = {(r["inode"], r["size"], r["mtime_ns"]): r for r in self.vanished.values()}
        still = []
        for path in todo:
            f = self.disk[path]
            old = by_stat.pop((f.inode, f.size, f.mtime_ns), None) if path not in self.known else None
            if old is not None and old["path"] in self.vanished:
                del self.vanished[old["path"]]
                self.report.moved.append((old["path"], path))
                self.upserts[path] = _row(f, old["lora_id"], old["fingerprint"], old["sha256"])
            else:
                still.append(path)
        return still

    def _read(self, still) -> None:
        reading = set(still)
        self.present_by_fp = defaultdict(list)
        for r in self.known.values():
            if r["path"] in self.disk and r["path"] not in reading:
                self.present_by_fp[r["fingerprint"]].append(dict(r))
        for p, r in self.upserts.items():
            self.present_by_fp[r["fingerprint"]].append(r | {"path": p})
        self.vanished_by_fp = defaultdict(list)
        for r in self.vanished.values():
            self.vanished_by_fp[r["fingerprint"]].append(r)
        for i, path in enumerate(still):
            if self.progress:
                self.progress("read", i, len(still), path)
            self._read_one(path)
        if self.progress and still:
            self.progress("read", len(still), len(still), None)

    def _read_one(self, path: str) -> None:
        report, f, full = self.report, self.disk[path], os.path.join(self.root, path)
        try:
            fp, small_sha = identity.fingerprint(full)
        except FileNotFoundError:
            report.problems.append(f"{path}: vanished during the scan, skipped")
            return
        except OSError as exc:
            fp = small_sha = None
            report.problems.append(f"{path}: cannot read ({exc.strerror or exc})")
        report.read += 1
        old = self.known.get(path)
        if fp is None:
            lora_id, fp, sha = "unreadable-" + identity.id_from_sha256(path), "", None
        elif old is not None and old["fingerprint"] == fp:
            lora_id, sha = old["lora_id"], None           # touched, or changed where we do not sample
            report.changed.append(path)
        elif self.vanished_by_fp.get(fp):
            gone = self.vanished_by_fp[fp].pop(0)
            del self.vanished[gone["path"]]
            lora_id, sha = gone["lora_id"], gone["sha256"] if gone["size"] == f.size else None
            report.moved.append((gone["path"], path))
        else:
            lora_id, sha = _assign_id(self.root, fp, full, self.present_by_fp[fp], self.sha_updates)
            (report.changed if old is not None else report.new).append(path)
        row = _row(f, lora_id, fp, sha or small_sha)
        self.upserts[path] = row
        if fp:
            self.present_by_fp[fp].append(row | {"path": path})
        self._classify(lora_id, full)

    def _classify(self, lora_id: str, full: str) -> None:
        if lora_id not in self.classified:
            self.classifications.append(_classification(lora_id, inspect_file(full)))
            self.classified.add(lora_id)

    def _classify_stale(self) -> None:
        """Files not read this time whose classification is missing or of an older classifier."""
        for p in sorted(self.disk):
            lid = self.upserts[p]["lora_id"] if p in self.upserts else self.known[p]["lora_id"] if p in self.known else None
            if lid:
                self._classify(lid, os.path.join(self.root, p))

    def _write(self) -> None:
        upserts, store = self.upserts, self.store
        for p, sha in self.sha_updates.items():
            if p in upserts:
                upserts[p]["sha256"] = sha
        with store.atomic():
            store.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in self.vanished])
            store.executemany("DELETE FROM files WHERE path = ?", [(old,) for old, _ in self.report.moved])
            store.executemany(
                "INSERT OR REPLACE INTO files (path, lora_id, size, mtime_ns, inode, device, fingerprint, sha256) "
                "VALUES (:path, :lora_id, :size, :mtime_ns, :inode, :device, :fingerprint, :sha256)",
                [r | {"path": p} for p, r in upserts.items()])
            store.executemany("UPDATE files SET sha256 = ? WHERE path = ?",
                              [(sha, p) for p, sha in self.sha_updates.items() if p not in upserts])
            store.executemany(
                "INSERT OR REPLACE INTO classification (lora_id, engine_version, ok, error_code, error, architecture, "
                "variant, adapter, base_model_hint, data) VALUES (?,?,?,?,?,?,?,?,?,?)", self.classifications)
            self.report.duplicates = duplicates(store)


def _row(f: DiskFile, lora_id: str, fp: str, sha) -> dict:
    return {"lora_id": lora_id, "size": f.size, "mtime_ns": f.mtime_ns, "inode": f.inode, "device": f.device,
            "fingerprint": fp, "sha256": sha}


def _assign_id(root: str, fp: str, full: str, same_fp: list, sha_updates: dict) -> tuple:
    """Id for a file whose fingerprint is new here, or equal to files still present elsewhere."""
    if not same_fp:
        return identity.stable_id(fp), None
    sha = identity.full_sha256(full)
    for other in same_fp:
        other_sha = other.get("sha256")
        if other_sha is None:
            try:
                other_sha = identity.full_sha256(os.path.join(root, other["path"]))
            except OSError:
                continue
            other["sha256"] = sha_updates[other["path"]] = other_sha
        if other_sha == sha:
            return other["lora_id"], sha                   # a duplicate: same bytes, same id
    return identity.id_from_sha256(sha), sha                # a fingerprint clash: id from the full hash


def _classification(lora_id: str, insp) -> tuple:
    data = insp.to_dict()
    data.pop("path", None)
    return (lora_id, CLASSIFIER_VERSION, int(insp.ok), insp.error_code, insp.error, insp.architecture,
            insp.variant, insp.adapter, insp.base_model_hint, json.dumps(data, sort_keys=True))


def duplicates(store) -> list:
    """Groups of paths holding the same content (same id), sorted."""
    groups = defaultdict(list)
    for r in store.execute("SELECT lora_id, path FROM files WHERE lora_id IN "
                           "(SELECT lora_id FROM files GROUP BY lora_id HAVING COUNT(*) > 1) ORDER BY path"):
        groups[r[0]].append(r[1])
    return sorted(groups.values())


def ensure_sha256(store, root: str, paths=None, progress=None) -> dict:
    """Compute (once) and cache the full SHA-256 of `paths` (all files when None)."""
    rows = store.execute("SELECT path, sha256 FROM files ORDER BY path").fetchall()
    wanted = set(paths) if paths is not None else None
    out = {}
    todo = [r["path"] for r in rows if (wanted is None or r["path"] in wanted) and not r["sha256"]]
    for r in rows:
        if r["sha256"] and (wanted is None or r["path"] in wanted):
            out[r["path"]] = r["sha256"]
    for i, path in enumerate(todo):
        if progress:
            progress("hash", i, len(todo), path)
        try:
            out[path] = identity.full_sha256(os.path.join(root, path))
        except OSError:
            continue
        with store.atomic():
            store.execute("UPDATE files SET sha256 = ? WHERE path = ?", (out[path], path))
    return out


def load_rows(store) -> list:
    """Every file row joined with its classification (dicts, sorted by path)."""
    out = []
    for r in store.execute(
            "SELECT f.path, f.lora_id, f.size, f.sha256, c.ok, c.error_code, c.error, c.data "
            "FROM files f LEFT JOIN classification c ON c.lora_id = f.lora_id ORDER BY f.path"):
        d = dict(r)
        d["inspection"] = json.loads(d.pop("data")) if d.get("data") else None
        out.append(d)
    return out
