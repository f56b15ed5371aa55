"""Organize a LoRA root: plan, show, apply.

`build_plan` turns the store (right after a scan) into steps and touches nothing; `Plan.show()`
prints them (`lora-atlas check`); `apply` publishes them in the journal and performs them.

* Every LoRA not yet in a folder of its own moves to `<parent>/<slug>/` inside the folder it was
  dropped in (the category, the LoRA's role; the root is no category), with its sidecar files
  (every `<stem>.<anything>`: `<stem>.preview.png`, `<stem>.metadata.json`, `<stem>.civitai.info`,
  ...), and gets a `config.yaml`.
* A folder is a LoRA's own when it holds that one LoRA and either a `config.yaml` or the LoRA's
  own name (`styles/ink/ink.safetensors`): such files are never moved.
* What other tools wrote beside it (LoRA Manager, A1111/Forge, Civitai Helper, rgthree: see
  library/sidecars.py) gives its config.yaml defaults, with their sources in `_atlas.sources`.
* An embedded `modelspec.thumbnail` becomes `preview.<ext>` and ComfyUI's `<stem>.preview.<ext>`.
* Incompatible files go to `_incompatible/<reason>/` with a `<file>.why.txt` note beside them.

Modes: `organize` (all of it), `clean` (quarantine only), `repair` (configs and index only).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field

from ..engine.safetensors_header import not_regular
from . import config_files as cf
from . import fs_safety, sidecars, video_still
from .errors import NotALibraryRoot
from .clock import utc_now
from .roles import find_root, folder_is_own, role_from_relpath
from .config_files import CONFIG_NAME
from .scan import QUARANTINE_DIR, load_rows

REASON_DIR = {
    "unreadable": "unreadable", "empty": "unreadable", "truncated": "unreadable", "header_too_large": "unreadable",
    "invalid_header": "unreadable", "unknown_dtype": "unreadable", "bad_offsets": "unreadable",
    "pickle": "pickle", "not_a_lora": "not-a-lora", "checkpoint": "not-a-lora", "embedding": "not-a-lora",
}
NOTE_SUFFIX = ".why.txt"


@dataclass
class Item:
    action: str            # organize | quarantine | config | preview
    path: str
    dest: str | None = None
    detail: str = ""
    failed: str | None = None
    key: int = -1          # the plan item its steps carry

    def to_dict(self) -> dict:
        return {"action": self.action, "path": self.path, "dest": self.dest, "detail": self.detail,
                "failed": self.failed}


@dataclass
class Plan:
    root: str
    mode: str
    ops: list = field(default_factory=list)
    contents: dict = field(default_factory=dict)       # op index -> bytes for write steps
    items: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    configs: list = field(default_factory=list)        # (folder, lora_id, facts_hash, organized_at, item)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "items": [i.to_dict() for i in self.items], "problems": self.problems,
                "steps": len(self.ops)}

    def show(self) -> str:
        if not self.items:
            return "nothing to do: every LoRA is in its own folder with a config.yaml"
        width = max(len(i.action) for i in self.items)
        lines = []
        for i in self.items:
            line = f"{i.action.ljust(width)}  {i.path}" + (f" -> {i.dest}" if i.dest else "")
            lines.append(line + (f"  ({i.detail})" if i.detail else "") + (f"  FAILED: {i.failed}" if i.failed else ""))
        return "\n".join(lines)


# --- where things belong ----------------------------------------------------------------------

def check_root(root: str) -> str:
    """The absolute root, or NotALibraryRoot if it is missing or inside another library."""
    path = os.path.abspath(root)
    if not os.path.isdir(path):
        raise NotALibraryRoot(f"'{root}' is not a folder")
    parent = find_root(path)
    if parent is not None:
        raise NotALibraryRoot(f"'{root}' is inside the LoRA library '{parent}'; run the command on '{parent}'")
    return path


def parent_of(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def own_folder(root: str, rel: str, report) -> bool:
    """Whether `rel` already sits in a folder of its own (see the module docstring)."""
    parent = parent_of(rel)
    if not parent or parent.split("/")[0] == QUARANTINE_DIR:
        return False
    name = rel.rsplit("/", 1)[1]
    count = report.lora_counts[parent]
    if parent in report.config_dirs and count > 1:   # one of several: the one its config.yaml names
        try:
            doc = cf.read_config(os.path.join(root, parent, CONFIG_NAME)) or {}
        except cf.ConfigUnreadable:
            return False
        return doc.get("filename") == name
    return folder_is_own(parent, name, count, parent in report.config_dirs)


def role_of(folder: str) -> str | None:
    """The role of a LoRA whose own folder is `folder` (library/roles.py)."""
    return role_from_relpath(f"{folder}/-", own_folder=True)


def incompatible_reason(row: dict, allow) -> str | None:
    insp = row.get("inspection") or {}
    if not row.get("ok"):
        return REASON_DIR.get(row.get("error_code") or "", "unreadable")
    arch = insp.get("architecture")
    if not arch or arch == "unknown":
        return "unknown-architecture"
    if allow and arch not in allow:
        return "not-allowed"
    return None


# --- planning ---------------------------------------------------------------------------------

class _Builder:
    def __init__(self, root, plan):
        self.root, self.plan = root, plan
        self.dirs = set()
        self.refused = set()

    def abs(self, rel):
        return os.path.join(self.root, rel)

    def add(self, op: dict, item: int, content: bytes | None = None) -> None:
        op["item"] = item
        if content is not None:
            self.plan.contents[len(self.plan.ops)] = content
        self.plan.ops.append(op)

    def mkdirs(self, rel: str, item: int) -> None:
        missing = []
        while rel and rel not in self.dirs and not os.path.isdir(self.abs(rel)):
            missing.append(rel)
            rel = parent_of(rel)
        for d in reversed(missing):
            self.dirs.add(d)
            self.add({"op": "mkdir", "path": d}, item)

    def untouchable(self, rel: str) -> bool:
        """True, said once in the plan's problems, when `rel` must be neither read nor replaced: a
        symbolic link (replaced by a file, the link was lost for good, undo included; written
        through, a file perhaps outside the library would change) or not a regular file (a FIFO
        blocks a read forever)."""
        try:
            mode = os.lstat(self.abs(rel)).st_mode
        except OSError:
            return False                          # absent (or unreadable: the write says why)
        if stat.S_ISLNK(mode):
            why = ("is a symbolic link; left as it is (organize never replaces a link nor writes through it): "
                   "make it a regular file to have it kept up to date")
        elif not_regular(mode) is not None:
            why = not_regular(mode) + "; left as it is"
        else:
            return False
        if rel not in self.refused:
            self.refused.add(rel)
            self.plan.problems.append(f"{rel}: {why}")
        return True

    def link_stays(self, rel: str) -> bool:
        """True, said in the plan's problems, when `rel` is a symbolic link to a relative path:
        moved into another folder it would point elsewhere (a LoRA organize broke, and undo could
        not even find), so it stays where it is. An absolute link moves as the link it is."""
        path = self.abs(rel)
        try:
            if not os.path.islink(path) or os.path.isabs(os.readlink(path)):
                return False
        except OSError:
            return False
        self.plan.problems.append(f"{rel}: a symbolic link to a relative path; moving it would break it, so it stays "
                                  "where it is (make it a regular file or an absolute link to have it organized)")
        return True

    def write(self, rel: str, data: bytes, item: int, kind: str) -> bool:
        """A write step if `rel` does not already hold `data` (none for a link: `untouchable`)."""
        if self.untouchable(rel):
            return False
        current = fs_safety.read_bytes(self.abs(rel))
        if current == data:
            return False
        before = _sha(current) if current is not None else None
        self.add({"op": "write", "path": rel, "sha256": _sha(data), "before": before, "kind": kind}, item, data)
        return True


def build_plan(root: str, store, report, *, mode: str = "organize", allow=None, previews: bool = True,
               now: str | None = None) -> Plan:
    """What `mode` would do to the library, from the store after `scan(..)` gave `report`."""
    now = now or utc_now()
    plan = Plan(root=root, mode=mode)
    b = _Builder(root, plan)
    rows = [r for r in load_rows(store) if r["path"].split("/")[0] != QUARANTINE_DIR]
    known_folders = {r["path"]: dict(r) for r in store.execute("SELECT * FROM folders")}

    own = {r["path"]: own_folder(root, r["path"], report) for r in rows}
    taken = {parent_of(p).rsplit("/", 1)[-1].casefold() for p, is_own in own.items() if is_own}
    listings = {}
    quarantine_names = set()
    for item, row in enumerate(rows):
        rel = row["path"]
        reason = incompatible_reason(row, allow)
        if reason is not None:
            if mode in ("organize", "clean"):
                _plan_quarantine(b, row, reason, quarantine_names, item)
            continue
        if own[rel]:
            if mode in ("organize", "repair"):
                _plan_config(b, row, parent_of(rel), known_folders, previews and mode == "organize", now, item)
            continue
        if mode != "organize" or b.link_stays(rel):
            continue
        name = rel.rsplit("/", 1)[-1]
        stem = os.path.splitext(name)[0]
        base = parent_of(rel)
        if base in report.config_dirs:          # dropped inside another LoRA's folder: go beside it
            base = parent_of(base)
        slug = cf.unique_slug(cf.slugify(stem), taken)
        while os.path.lexists(b.abs(f"{base}/{slug}" if base else slug)):
            taken.add(slug.casefold())
            slug = cf.unique_slug(cf.slugify(stem), taken)
        taken.add(slug.casefold())
        folder = f"{base}/{slug}" if base else slug
        plan.items.append(Item("organize", rel, f"{folder}/{name}", (row["inspection"] or {}).get("architecture") or "", key=item))
        b.mkdirs(folder, item)
        b.add({"op": "move", "src": rel, "dst": f"{folder}/{name}", "size": row["size"], "why": "organize"}, item)
        moved_in = [name]
        for side in sidecars.sidecar_files(root, parent_of(rel), stem, listings):
            src = f"{parent_of(rel)}/{side}" if parent_of(rel) else side
            if b.link_stays(src):
                continue
            b.add({"op": "move", "src": src, "dst": f"{folder}/{side}", "size": None, "why": "sidecar"}, item)
            moved_in.append(side)
        _plan_config(b, row, folder, known_folders, previews, now, item, names=moved_in, new=True)
    return plan


def _plan_quarantine(b: _Builder, row: dict, reason: str, taken: set, item: int) -> None:
    rel = row["path"]
    name = rel.rsplit("/", 1)[-1]
    if row.get("error_code") == "unreadable" and not os.path.lexists(b.abs(rel)) or b.link_stays(rel):
        return
    folder = f"{QUARANTINE_DIR}/{reason}"
    dest, note_name = _quarantine_names(b, folder, name, taken)
    insp = row.get("inspection") or {}
    why = insp.get("error") or {
        "unknown-architecture": "a LoRA of an architecture LoRA Atlas does not recognize",
        "not-allowed": f"architecture '{insp.get('architecture')}' is not in --allow",
    }.get(reason, reason)
    b.plan.items.append(Item("quarantine", rel, f"{folder}/{dest}", why, key=item))
    b.mkdirs(folder, item)
    b.add({"op": "move", "src": rel, "dst": f"{folder}/{dest}", "size": row["size"], "why": "quarantine"}, item)
    note = (f"{dest}\nquarantined by LoRA Atlas: {reason}\nwhy: {why}\nwas: {rel}\n\n"
            "Nothing was deleted. To use it again, fix or convert it and move it back into the library.\n")
    b.write(f"{folder}/{note_name}", note.encode("utf-8"), item, "note")


def _quarantine_names(b: _Builder, folder: str, name: str, taken: set) -> tuple:
    """(file name, note name) in the quarantine `folder`: `name`, else `<stem>-2<ext>`, `-3`, ...
    Both fit the file system's name limit (the stem is cut, the suffix and extension kept): two
    bad files with one 255-byte name in two folders failed forever on a `-2` too long to exist.
    A note may be reused only by the file it describes (its first line names it)."""
    stem, ext = os.path.splitext(name)
    limit = fs_safety.name_limit(b.abs(folder))
    n = 1
    while True:
        tail = ext if n == 1 else f"-{n}{ext}"
        dest, note = fs_safety.fit_name(stem, tail, limit), fs_safety.fit_name(stem, tail + NOTE_SUFFIX, limit)
        if _name_free(b, folder, dest, taken) and _name_free(b, folder, note, taken, describes=dest):
            taken.update({f"{folder}/{dest}".casefold(), f"{folder}/{note}".casefold()})
            return dest, note
        n += 1


def _name_free(b: _Builder, folder: str, name: str, taken: set, describes: str | None = None) -> bool:
    """Whether `folder/name` is used neither by this plan nor on disk (a note on disk is free for
    the file `describes`, which it was written for)."""
    rel = f"{folder}/{name}"
    if rel.casefold() in taken:
        return False
    try:
        if not stat.S_ISREG(os.lstat(b.abs(rel)).st_mode) or describes is None:
            return False                        # a link or a FIFO is never read nor replaced
        existing = fs_safety.read_bytes(b.abs(rel)) or b""
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return existing.split(b"\n", 1)[0] == describes.encode("utf-8")


def _plan_config(b: _Builder, row: dict, folder: str, known: dict, previews: bool, now: str, item: int,
                 names=None, new: bool = False) -> None:
    rel = row["path"]
    name = rel.rsplit("/", 1)[-1]
    stem = os.path.splitext(name)[0]
    insp = row.get("inspection") or {}
    try:
        preview = cf.existing_preview(b.abs(folder), stem, names)
    except OSError:
        preview = None
    if preview is None and previews:
        preview = _video_still(b, rel, folder, stem, names, item, new)
    if preview is None and previews and insp.get("has_thumbnail"):
        thumb = cf.embedded_preview(b.abs(rel))
        if thumb:
            preview = _write_preview(b, folder, stem, *thumb, item, new, "embedded thumbnail")
    imported, sources = _imported(b, rel, stem, insp, names)
    generated = cf.generated_fields(insp, filename=name, role=role_of(folder), lora_id=row["lora_id"],
                                    sha256=row.get("sha256"), preview=preview, now=now, imported=imported)
    facts = cf.facts_hash(generated, sources)
    cfg_rel = f"{folder}/{CONFIG_NAME}"
    seen = known.get(folder)
    if not new and seen and seen["lora_id"] == row["lora_id"] and seen["facts_hash"] == facts:
        try:
            st = os.stat(b.abs(cfg_rel))
            if (st.st_size, st.st_mtime_ns) == (seen["config_size"], seen["config_mtime_ns"]):
                return                                     # unchanged since we wrote it: no read
        except OSError:
            pass
    if b.untouchable(cfg_rel):
        return
    try:
        existing = cf.read_config(b.abs(cfg_rel))
    except cf.ConfigUnreadable as exc:
        b.plan.problems.append(f"{cfg_rel}: {exc}; left untouched, fix it (or move it away) and run organize again")
        return
    merged = cf.merge(existing, generated, now, sources)
    if b.write(cfg_rel, cf.render(merged), item, "config") and not new:
        b.plan.items.append(Item("config", cfg_rel, None, "written" if existing is None else "updated", key=item))
    b.plan.configs.append((folder, row["lora_id"], facts, merged["_atlas"]["organized_at"], item))


def _write_preview(b: _Builder, folder: str, stem: str, ext: str, data: bytes, item: int, new: bool, why: str) -> str:
    """Plan `preview.<ext>` (and ComfyUI's `<stem>.preview.<ext>`) in `folder`; the config's name."""
    preview = f"preview.{ext}"
    b.write(f"{folder}/{preview}", data, item, "preview")
    if cf.fits_name(f"{stem}.preview.{ext}"):
        b.write(f"{folder}/{stem}.preview.{ext}", data, item, "preview")
    if not new:
        b.plan.items.append(Item("preview", f"{folder}/{preview}", None, why, key=item))
    return preview


def _video_still(b: _Builder, rel: str, folder: str, stem: str, names, item: int, new: bool):
    """The first frame of the LoRA's video preview (a sidecar beside `rel` now) as its still, or
    None (why not goes to the plan's problems)."""
    where = parent_of(rel)
    try:
        present = sidecars.sidecar_names(stem, os.listdir(b.abs(where)) if names is None else names)
    except OSError:
        return None
    video = next((present[s] for s in sidecars.VIDEO_PREVIEWS if s in present), None)
    if video is None:
        return None
    data, why = video_still.first_frame(b.abs(f"{where}/{video}" if where else video))
    if data is None:
        b.plan.problems.append(f"{rel}: video preview {video}: {why}")
        return None
    return _write_preview(b, folder, stem, "png", data, item, new, f"first frame of {video}")


def _imported(b: _Builder, rel: str, stem: str, insp: dict, names) -> tuple:
    """(field -> value, field -> source) the other tools' sidecars of `rel` give its config; what
    is wrong with them goes to the plan's problems. `names`: the sidecars moving with it (they are
    read where they are now, beside `rel`)."""
    where = parent_of(rel)
    try:
        found = sidecars.read_sidecars(b.abs(where), stem, names)
    except OSError:
        return {}, {}
    values, sources, conflicts = sidecars.defaults(found, insp)
    for problem in found.problems + conflicts:
        b.plan.problems.append(f"{rel}: {problem}")
    return values, sources


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
