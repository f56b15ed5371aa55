"""After organize moved files: remember each LoRA folder's config.yaml in the store (so the next
run skips it unread) and plan the writes that bring index.json and preview_config.json in line
with the store (organize, undo and previews end with them)."""

from __future__ import annotations

import os

from . import config_files as cf
from . import index_files
from .config_files import CONFIG_NAME
from .organize import Plan, _Builder, own_folder, parent_of, role_of
from .scan import QUARANTINE_DIR, load_rows


def record_folders(store, root: str, configs: list) -> None:
    """Remember, per LoRA folder, the config.yaml just written (so the next run skips it unread)."""
    rows = []
    for folder, lora_id, facts, organized_at, *_ in configs:
        try:
            st = os.stat(os.path.join(root, folder, CONFIG_NAME))
        except OSError:
            continue
        rows.append((folder, lora_id, st.st_size, st.st_mtime_ns, facts, organized_at))
    with store.atomic():
        store.executemany("INSERT OR REPLACE INTO folders (path, lora_id, config_size, config_mtime_ns, facts_hash, "
                          "organized_at) VALUES (?,?,?,?,?,?)", rows)
        for (folder,) in store.execute("SELECT path FROM folders").fetchall():
            if not os.path.exists(os.path.join(root, folder, CONFIG_NAME)):
                store.execute("DELETE FROM folders WHERE path = ?", (folder,))


def index_plan(root: str, store, report) -> Plan:
    """The writes that bring index.json and preview_config.json in line with the store."""
    plan = Plan(root=root, mode="index")
    b = _Builder(root, plan)
    folders = {r["path"]: r["organized_at"] for r in store.execute("SELECT path, organized_at FROM folders")}
    entries = []
    for row in load_rows(store):
        rel = row["path"]
        name = rel.rsplit("/", 1)[-1]
        folder = parent_of(rel)
        if folder.split("/")[0] == QUARANTINE_DIR:
            entries.append((cf.slugify(os.path.splitext(name)[0]), index_files.index_entry(
                filename=name, folder=folder, compatible=False, has_preview=False, has_config=False,
                organized_at=None, lora_id=row["lora_id"], inspection=row["inspection"], sha256=row.get("sha256"),
                reason=folder.split("/")[1] if "/" in folder else None)))
        elif own_folder(root, rel, report):
            try:
                names = os.listdir(os.path.join(root, folder))
            except OSError:
                names = []
            entries.append((folder.rsplit("/", 1)[-1], index_files.index_entry(
                filename=name, folder=folder, compatible=True,
                has_preview=cf.existing_preview("", os.path.splitext(name)[0], names) is not None,
                has_config=CONFIG_NAME in names, organized_at=folders.get(folder), lora_id=row["lora_id"],
                inspection=row["inspection"], role=role_of(folder), sha256=row.get("sha256"))))
    if not b.untouchable(index_files.INDEX_NAME):
        try:
            index_files.read_json(os.path.join(root, index_files.INDEX_NAME))
        except index_files.JsonUnreadable as exc:
            plan.problems.append(f"{index_files.INDEX_NAME}: {exc}; rebuilt from the store (the old file is kept in the journal)")
        b.write(index_files.INDEX_NAME, index_files.dumps(index_files.keyed(entries)), -1, "index")
    if not b.untouchable(index_files.PREVIEW_CONFIG_NAME):
        try:
            existing = index_files.read_json(os.path.join(root, index_files.PREVIEW_CONFIG_NAME))
            b.write(index_files.PREVIEW_CONFIG_NAME, index_files.dumps(index_files.preview_config(existing)), -1, "index")
        except index_files.JsonUnreadable as exc:
            plan.problems.append(f"{index_files.PREVIEW_CONFIG_NAME}: {exc}; left untouched, fix it and run again")
    return plan
