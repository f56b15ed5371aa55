"""Saved plans and the history of computed plans, kept in the library's store.

    save_plan(store, name, plan_doc, inputs) -> id          NameTaken if the name exists
    list_plans(store) -> [{"id", "name", "created_at", "schema_version", "policy", "architecture", "loras"}]
    load_saved(store, name_or_id, root) -> SavedPlan
        no recompute: `plan` is the stored JSON (`text` is byte-identical to what was saved) unless
        a file moved, then its `path` is the new one; `problems` says which files moved (found
        again by stable id), vanished or changed since the plan was saved
    delete_plan(store, name_or_id)
    append_history(store, plan, inputs, plan_id=None)      the last HISTORY_LIMIT are kept
    plan_history(store, limit=50) -> [{"id", "plan_id", "created_at", "policy", "architecture", "loras"}]
    history_entry(store, id) -> {"id", "plan_id", "created_at", "text", "plan", "inputs"}

Inputs (kept with every saved and history plan): {"loras": [{"given", "path", "rel", "id",
"strength_model", "strength_clip", "role", "profile"}], "policy", "headroom", "role_order",
"root"}: `given` the path as it was passed, `path` absolute, `rel` relative to the root ('/'), `id`
the stable id (library/identity.py), `role` an explicit role override or null, `profile`
{"name", "multipliers"} as applied (a copy: editing the profile later does not change the plan).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..engine.planner import PLAN_SCHEMA_VERSION
from .clock import utc_now
from .errors import InvalidDocument, NameTaken, NotFound
from .named_documents import known_names
from .plan_cache_store import stable_ids
from .plan_exports import canonical_json
from .profiles import check_name
from .scan import scan

HISTORY_LIMIT = 200


@dataclass
class SavedPlan:
    id: int
    name: str
    created_at: str
    text: str                       # the stored JSON, exactly
    plan: dict                      # as load_plan returns it (new paths where files moved)
    inputs: dict                    # with `path` updated where files moved
    problems: list = field(default_factory=list)
    missing: list = field(default_factory=list)     # inputs' paths that vanished
    moved: bool = False


def refuse_taken(store, name):
    if store.execute("SELECT 1 FROM saved_plans WHERE name = ?", (name,)).fetchone():
        raise NameTaken([f"a plan named {name!r} exists; choose another name or delete it first "
                               f"(lora-atlas plans delete {name!r})"])


def save_plan(store, name: str, plan_doc: dict, inputs: dict) -> int:
    """Save a computed plan and the inputs that made it; returns its id."""
    name = check_name(name, "plan")
    if not isinstance(plan_doc, dict) or "loras" not in plan_doc:
        raise InvalidDocument(["plan: expected a plan document (the JSON of lora-atlas plan --json)"])
    with store.atomic():
        refuse_taken(store, name)
        cur = store.execute("INSERT INTO saved_plans (name, data, inputs, schema_version, created_at) "
                            "VALUES (?, ?, ?, ?, ?)", (name, canonical_json(plan_doc).decode(),
                                                       json.dumps(inputs, sort_keys=True),
                                                       plan_doc.get("schema_version", PLAN_SCHEMA_VERSION), utc_now()))
    return cur.lastrowid


def _summary(row) -> dict:
    plan = json.loads(row["data"])
    return {"id": row["id"], "name": row["name"] if "name" in row.keys() else None,
            "created_at": row["created_at"], "schema_version": row["schema_version"] or plan.get("schema_version"),
            "policy": plan.get("policy"), "architecture": plan.get("architecture"),
            "loras": [lo.get("path") for lo in plan.get("loras", [])]}


def list_plans(store) -> list:
    return [_summary(r) for r in store.execute(
        "SELECT id, name, data, schema_version, created_at FROM saved_plans ORDER BY name")]


def _row(store, name_or_id):
    row = store.execute("SELECT * FROM saved_plans WHERE name = ?", (str(name_or_id),)).fetchone()
    if row is None and str(name_or_id).strip().isdigit():
        row = store.execute("SELECT * FROM saved_plans WHERE id = ?", (int(name_or_id),)).fetchone()
    if row is None:
        raise NotFound(f"no saved plan named {name_or_id!r}{known_names(store, 'saved_plans')}")
    return row


def load_saved(store, name_or_id, root) -> SavedPlan:
    """A saved plan, its files located again (see load_plan)."""
    row = _row(store, name_or_id)
    text = row["data"]
    plan = json.loads(text)
    inputs = json.loads(row["inputs"]) if row["inputs"] else _inputs_from_plan(plan)
    saved = SavedPlan(row["id"], row["name"], row["created_at"], text, plan, inputs)
    if (plan.get("schema_version") or 0) > PLAN_SCHEMA_VERSION:
        saved.problems.append(f"plan {row['name']!r} has schema {plan['schema_version']}, newer than this LoRA Atlas "
                              f"({PLAN_SCHEMA_VERSION}): shown as stored")
    _locate(store, root, saved)
    return saved


def load_plan(store, name_or_id, root):
    """(plan_doc, problems) of a saved plan, with zero recompute."""
    saved = load_saved(store, name_or_id, root)
    return saved.plan, saved.problems


def delete_plan(store, name_or_id) -> None:
    with store.atomic():
        row = _row(store, name_or_id)
        store.execute("UPDATE plan_history SET plan_id = NULL WHERE plan_id = ?", (row["id"],))
        store.execute("DELETE FROM saved_plans WHERE id = ?", (row["id"],))


def _inputs_from_plan(plan) -> dict:
    """Inputs of a plan saved without them (by an earlier version): from its own fields."""
    return {"loras": [{"given": lo["path"], "path": os.path.abspath(lo["path"]), "rel": None, "id": None,
                       "strength_model": (lo.get("input") or {}).get("strength_model", lo.get("strength_model")),
                       "strength_clip": (lo.get("input") or {}).get("strength_clip"), "role": None,
                       "profile": lo.get("profile")} for lo in plan.get("loras", [])],
            "policy": plan.get("policy"), "headroom": plan.get("headroom"), "role_order": plan.get("role_order"),
            "root": None}


def _locate(store, root, saved: SavedPlan) -> None:
    """Find every LoRA of a saved plan again: in place, moved (same stable id elsewhere under the
    root; the store is rescanned once if needed) or vanished. Fills problems and new paths."""
    root = root or saved.inputs.get("root")
    scanned = False
    new_paths = {}
    for lo in saved.inputs["loras"]:
        where = os.path.abspath(os.path.join(root, lo["rel"]) if root and lo.get("rel") else lo["path"])
        if os.path.isfile(where):
            if lo.get("id") and stable_ids(store, root, [where])[where] != lo["id"]:
                saved.problems.append(f"{lo['given']}: changed since the plan was saved (stable id {lo['id']} is "
                                      f"gone): its saved vector may not fit; re-plan with --from-plan {saved.name!r}")
            elif where != lo["path"]:            # the whole library moved: same place under its root
                saved.problems.append(f"{lo['given']}: moved to {where} (same place under the library root); "
                                      "using the new path")
                new_paths[lo["given"]] = lo["path"] = where
                saved.moved = True
            continue
        found = None
        if lo.get("id") and root:
            found = _find_by_id(store, root, lo["id"])
            if found is None and not scanned and os.path.isdir(root):
                scan(store, root)
                scanned = True
                found = _find_by_id(store, root, lo["id"])
        if found is None:
            saved.missing.append(lo["given"])
            saved.problems.append(f"{lo['given']}: vanished (stable id {lo.get('id') or 'unknown'}: no file under "
                                  f"{root or 'the library'} has it); restore it or re-plan without it")
        else:
            saved.problems.append(f"{lo['given']}: moved to {found} (found by its stable id {lo['id']}); "
                                  "using the new path")
            new_paths[lo["given"]] = lo["path"] = found
            saved.moved = True
    if saved.moved:
        plan = json.loads(saved.text)
        for lo in plan.get("loras", []):
            if lo.get("path") in new_paths:
                lo["path"] = new_paths[lo["path"]]
        saved.plan = plan


def _find_by_id(store, root, lora_id):
    for r in store.execute("SELECT path, size, mtime_ns FROM files WHERE lora_id = ? ORDER BY path", (lora_id,)):
        full = os.path.join(root, r["path"])
        try:
            st = os.stat(full)
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns) == (r["size"], r["mtime_ns"]):
            return full
    return None


def append_history(store, plan, inputs, plan_id=None) -> int:
    with store.atomic():
        cur = store.execute("INSERT INTO plan_history (plan_id, data, inputs, schema_version, created_at) "
                            "VALUES (?, ?, ?, ?, ?)", (plan_id, canonical_json(plan).decode(),
                                                       json.dumps(inputs, sort_keys=True),
                                                       plan.get("schema_version"), utc_now()))
        store.execute("DELETE FROM plan_history WHERE id NOT IN "
                      "(SELECT id FROM plan_history ORDER BY id DESC LIMIT ?)", (HISTORY_LIMIT,))
    return cur.lastrowid


def plan_history(store, limit: int = 50) -> list:
    """The most recent computed plans, newest first."""
    limit = max(1, min(int(limit), HISTORY_LIMIT))
    return [_summary(r) | {"plan_id": r["plan_id"]} for r in store.execute(
        "SELECT id, plan_id, data, schema_version, created_at FROM plan_history ORDER BY id DESC LIMIT ?", (limit,))]


def history_entry(store, entry_id) -> dict:
    row = store.execute("SELECT * FROM plan_history WHERE id = ?", (int(entry_id),)).fetchone()
    if row is None:
        raise NotFound(f"no history entry {entry_id} (lora-atlas plans history lists them)")
    return {"id": row["id"], "plan_id": row["plan_id"], "created_at": row["created_at"], "text": row["data"],
            "plan": json.loads(row["data"]), "inputs": json.loads(row["inputs"]) if row["inputs"] else None}
