"""Saved plans, plan history, templates, exports, the library's block table, and the planner's
cache kept in the store, so a plan in a new process is warm.

Public API (the CLI and the routes call these; `store` is a library.store.Store):

    plan, saved_id = plan_and_record(store, root, specs, save_as=None, **plan_files_options)
        plan with engine.plan_stack.plan_files, warm from the store's cache; append the plan to
        the history (the last HISTORY_LIMIT are kept) and, with `save_as`, save it; one transaction
    save_plan(store, name, plan_doc, inputs) -> id          NameTaken-like InvalidDocument if it exists
    list_plans(store) -> [{"id", "name", "created_at", "schema_version", "policy", "architecture", "loras"}]
    load_plan(store, name_or_id, root) -> (plan_doc, problems)
        no recompute: plan_doc is the stored JSON (canonical_json(plan_doc) is byte-identical to
        what was saved) unless a file moved, then its `path` is the new one; `problems` says which
        files moved (found again by stable id), vanished or changed since the plan was saved
    load_saved(store, name_or_id, root) -> SavedPlan   (the same, with the stored text and inputs)
    delete_plan(store, name_or_id)
    plan_history(store, limit=50) -> [{"id", "plan_id", "created_at", "policy", "architecture", "loras"}]
    history_entry(store, id) -> {"id", "created_at", "plan", "inputs"}
    save_template / list_templates / load_template / delete_template, apply_template(...)
    save_profile / list_profiles / load_profile / delete_profile      (library/profiles.py)
    export_plan(plan_doc, "json" | "csv") -> str
    block_table(store, root) -> rows      (scans, then cached analyses; missing ones computed and kept)
    export_block_table(rows, "json" | "csv") -> str

Inputs (kept with every saved and history plan): {"loras": [{"given", "path", "rel", "id",
"strength_model", "strength_clip", "role", "profile"}], "policy", "headroom", "role_order",
"root"}: `given` the path as it was passed, `path` absolute, `rel` relative to the root ('/'), `id`
the stable id (library/identity.py), `role` an explicit role override or null, `profile`
{"name", "multipliers"} as applied (a copy: editing the profile later does not change the plan).

Templates: {"policy", "headroom", "role_order", "profiles": {ROLE: {BLOCK: mult} or "profile name"}};
a template's profile applies to every LoRA of that role that has no profile of its own.

The cache: engine.plan_stack.PlanCache keys figures by (real path, size, mtime_ns, analysis
version). The store keys the same figures by '<stable id>:<size>:<mtime_ns>' and the analysis
version, so a moved file stays warm and a changed file (new size or mtime) is recomputed; the
plan then warns "changed since its figures were cached: recomputed".

Exports are deterministic: JSON with sorted keys, CSV rows sorted by LoRA path then vector
position, numbers in Inspire's canonical form (at most 4 decimals) or 6 significant digits.
Timestamps appear only in `created_at` / `updated_at` fields, never in an exported plan.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field

import orjson

from ..engine.analysis import ANALYSIS_VERSION, analyze_file, round_figures
from ..engine.block_vectors import canonical_number
from ..engine.plan_cache import PlanCache, file_key
from ..engine.plan_stack import plan_files
from ..engine.planner import (DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, PLAN_SCHEMA_VERSION,
                              check_number, validate_options)
from . import identity
from .errors import InvalidDocument, NotFound
from .profiles import (_known, check_multipliers, check_name, delete_profile, list_profiles, load_profile, now,
                       save_profile)
from .roles import role_of_file, roles_of
from .scan import load_rows, scan

__all__ = ["HISTORY_LIMIT", "SavedPlan", "apply_template", "block_table", "canonical_json", "delete_plan",
           "delete_profile", "delete_template", "export_block_table", "export_plan", "history_entry",
           "list_plans", "list_profiles", "list_templates", "load_plan", "load_profile", "load_saved",
           "load_template", "make_inputs", "plan_and_record", "plan_history", "save_plan", "save_profile",
           "save_template", "stable_ids", "warm_cache", "persist_cache"]

HISTORY_LIMIT = 200
FORMATS = ("json", "csv")
PLAN_CSV = ("lora", "position", "ratio", "strength_model", "strength_clip", "block_vector")
BLOCK_CSV = ("path", "id", "architecture", "adapter", "kind", "block", "energy", "share", "spectral_norm",
             "effective_rank", "modules")


def canonical_json(document) -> bytes:
    """The bytes a plan is stored and printed as (sorted keys, two-space indent, final newline),
    the same as `lora-atlas plan --json` prints."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


# ---------------------------------------------------------------------------------------------
# Stable ids and the persisted planner cache


def stable_ids(store, root, paths) -> dict:
    """path -> stable id: the store's row when the file is unchanged since the last scan, else its
    fingerprint (library/identity.py). None for a file that cannot be read."""
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out[path] = None
            continue
        rel = _rel(root, path)
        row = store.execute("SELECT lora_id, size, mtime_ns FROM files WHERE path = ?", (rel,)).fetchone() if rel else None
        if row is not None and (row["size"], row["mtime_ns"]) == (st.st_size, st.st_mtime_ns):
            out[path] = row["lora_id"]
            continue
        try:
            out[path] = identity.stable_id(identity.fingerprint(path)[0])
        except OSError:
            out[path] = None
    return out


def _store_key(lora_id, key) -> str:
    return f"{lora_id}:{key[1]}:{key[2]}"


def warm_cache(store, paths, ids: dict, cache: PlanCache | None = None) -> PlanCache:
    """A PlanCache holding every stored figure of `paths` (and their pairs) for their current size,
    mtime and analysis version. A file the store knew at another size or mtime is remembered, so
    the planner says it changed and was recomputed."""
    cache = cache if cache is not None else PlanCache()
    keys = {}
    for path in paths:
        if ids.get(path) is None or not os.path.isfile(path):
            continue
        key = file_key(path)
        keys[path] = (key, _store_key(ids[path], key))
        row = store.execute("SELECT data FROM plan_cache_files WHERE key = ? AND analysis_version = ?",
                            (keys[path][1], ANALYSIS_VERSION)).fetchone()
        if row is not None:
            cache.diag[key] = json.loads(row["data"])
            cache.latest[key[0]] = key
        else:
            old = store.execute("SELECT key FROM plan_cache_files WHERE path = ? AND analysis_version = ? LIMIT 1",
                                (key[0], ANALYSIS_VERSION)).fetchone()
            if old is not None:
                _, size, mtime = old["key"].rsplit(":", 2)
                cache.latest[key[0]] = (key[0], int(size), int(mtime), ANALYSIS_VERSION)
    known = sorted(keys.values(), key=lambda k: k[1])
    for i, (ka, sa) in enumerate(known):
        for kb, sb in known[i + 1:]:
            row = store.execute("SELECT data FROM plan_cache_pairs WHERE a = ? AND b = ? AND analysis_version = ?",
                                (sa, sb, ANALYSIS_VERSION)).fetchone()
            if row is not None:
                cache.pairs[(ka, kb) if ka <= kb else (kb, ka)] = json.loads(row["data"])
    return cache


def persist_cache(store, paths, ids: dict, cache: PlanCache) -> int:
    """Write the figures of `paths` the store does not have yet; returns how many rows."""
    keys = []
    for path in paths:
        if ids.get(path) is None or not os.path.isfile(path):
            continue
        key = cache.latest.get(os.path.realpath(path))
        if key is not None and key in cache.diag:
            keys.append((key, _store_key(ids[path], key)))
    written = 0
    with store.atomic():
        for key, skey in keys:
            cur = store.execute("INSERT OR IGNORE INTO plan_cache_files (key, analysis_version, path, data) "
                                "VALUES (?, ?, ?, ?)", (skey, ANALYSIS_VERSION, key[0],
                                                        json.dumps(cache.diag[key], sort_keys=True)))
            if cur.rowcount:
                written += 1
                stale = [r[0] for r in store.execute("SELECT key FROM plan_cache_files WHERE path = ? AND key != ?",
                                                     (key[0], skey))]
                for old in stale:                     # the file changed: its old figures are dead
                    store.execute("DELETE FROM plan_cache_files WHERE key = ?", (old,))
                    store.execute("DELETE FROM plan_cache_pairs WHERE a = ? OR b = ?", (old, old))
        keys.sort(key=lambda k: k[1])
        for i, (ka, sa) in enumerate(keys):
            for kb, sb in keys[i + 1:]:
                pair = cache.pairs.get((ka, kb) if ka <= kb else (kb, ka))
                if pair is not None and sa != sb:
                    cur = store.execute("INSERT OR IGNORE INTO plan_cache_pairs (a, b, analysis_version, data) "
                                        "VALUES (?, ?, ?, ?)", (sa, sb, ANALYSIS_VERSION, json.dumps(pair, sort_keys=True)))
                    written += cur.rowcount
    return written


# ---------------------------------------------------------------------------------------------
# Planning inside a library


def make_inputs(specs, ids: dict, *, policy=DEFAULT_POLICY, headroom=DEFAULT_HEADROOM, role_order=DEFAULT_ROLE_ORDER,
                root=None, roles=None, profiles=None) -> dict:
    """The request as it is kept with a saved or history plan (see the module docstring)."""
    loras = []
    for path, strength, clip in specs:
        sm = check_number(1.0 if strength is None else strength, "strength")[0]
        sc = None if clip is None else check_number(clip, "clip")[0]
        name, mults = (profiles or {}).get(path, (None, None))
        loras.append({"given": path, "path": os.path.abspath(path), "rel": _rel(root, path), "id": ids.get(path),
                      "strength_model": sm, "strength_clip": sc, "role": (roles or {}).get(path),
                      "profile": {"name": name, "multipliers": dict(sorted(mults.items()))} if mults else None})
    return {"loras": loras, "policy": policy, "headroom": headroom, "role_order": list(role_order),
            "root": os.path.abspath(root) if root else None}


def plan_and_record(store, root, specs, *, save_as: str | None = None, history: bool = True,
                    cache: PlanCache | None = None, **options):
    """(plan, saved id or None): plan `specs` warm from the store's cache, then in one
    transaction persist the new figures, append the history and save the plan as `save_as`.
    Raises engine.planner.PlanError (nothing is written) or InvalidDocument (name taken)."""
    if save_as is not None:
        save_as = check_name(save_as, "plan")
        _refuse_taken(store, save_as)
    paths = [s[0] for s in specs]
    ids = stable_ids(store, root, paths)
    cache = warm_cache(store, paths, ids, cache)
    planning = {k: v for k, v in options.items() if k != "roles"}
    plan = plan_files(specs, cache=cache, roles=roles_of(paths, root, options.get("roles")), **planning)
    inputs = make_inputs(specs, ids, root=root, **options)
    saved = None
    with store.atomic():
        persist_cache(store, paths, ids, cache)
        if save_as is not None:
            saved = save_plan(store, save_as, plan, inputs)
        if history:
            _append_history(store, plan, inputs, saved)
    return plan, saved


def _append_history(store, plan, inputs, plan_id=None) -> int:
    with store.atomic():
        cur = store.execute("INSERT INTO plan_history (plan_id, data, inputs, schema_version, created_at) "
                            "VALUES (?, ?, ?, ?, ?)", (plan_id, canonical_json(plan).decode(),
                                                       json.dumps(inputs, sort_keys=True),
                                                       plan.get("schema_version"), now()))
        store.execute("DELETE FROM plan_history WHERE id NOT IN "
                      "(SELECT id FROM plan_history ORDER BY id DESC LIMIT ?)", (HISTORY_LIMIT,))
    return cur.lastrowid


# ---------------------------------------------------------------------------------------------
# Saved plans


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


def _refuse_taken(store, name):
    if store.execute("SELECT 1 FROM saved_plans WHERE name = ?", (name,)).fetchone():
        raise InvalidDocument([f"a plan named {name!r} exists; choose another name or delete it first "
                               f"(lora-atlas plans delete {name!r})"])


def save_plan(store, name: str, plan_doc: dict, inputs: dict) -> int:
    """Save a computed plan and the inputs that made it; returns its id."""
    name = check_name(name, "plan")
    if not isinstance(plan_doc, dict) or "loras" not in plan_doc:
        raise InvalidDocument(["plan: expected a plan document (the JSON of lora-atlas plan --json)"])
    with store.atomic():
        _refuse_taken(store, name)
        cur = store.execute("INSERT INTO saved_plans (name, data, inputs, schema_version, created_at) "
                            "VALUES (?, ?, ?, ?, ?)", (name, canonical_json(plan_doc).decode(),
                                                       json.dumps(inputs, sort_keys=True),
                                                       plan_doc.get("schema_version", PLAN_SCHEMA_VERSION), now()))
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
        raise NotFound(f"no saved plan named {name_or_id!r}{_known(store, 'saved_plans')}")
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


def _rel(root, path):
    if not root:
        return None
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return None if rel.startswith("..") or os.path.isabs(rel) else rel.replace(os.sep, "/")


# ---------------------------------------------------------------------------------------------
# History


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


# ---------------------------------------------------------------------------------------------
# Templates


def check_template(doc) -> dict:
    """A template with defaults filled in; InvalidDocument listing every problem."""
    if not isinstance(doc, dict):
        raise InvalidDocument(["template: expected {policy, headroom, role_order, profiles}"])
    problems = [f"template: unknown field {k!r}" for k in sorted(set(doc) - {"policy", "headroom", "role_order", "profiles"})]
    policy = doc.get("policy") or DEFAULT_POLICY
    headroom, why = check_number(DEFAULT_HEADROOM if doc.get("headroom") is None else doc["headroom"], "headroom")
    role_order = doc.get("role_order") or list(DEFAULT_ROLE_ORDER)
    if why or not isinstance(role_order, (list, tuple)) or not all(isinstance(r, str) for r in role_order):
        problems.append(why or "role_order: expected a list of role names")
    else:
        problems += validate_options(policy, headroom, tuple(role_order))
    profiles = {}
    for role, value in (doc.get("profiles") or {}).items():
        if isinstance(value, str):
            profiles[str(role)] = value
            continue
        try:
            profiles[str(role)] = check_multipliers(value, f"template profile for {role}")
        except InvalidDocument as exc:
            problems += exc.problems
    if problems:
        raise InvalidDocument(problems)
    return {"policy": policy, "headroom": headroom, "role_order": list(role_order),
            "profiles": dict(sorted(profiles.items()))}


def save_template(store, name: str, template: dict) -> dict:
    name = check_name(name, "template")
    doc = check_template(template)
    with store.atomic():
        store.execute("INSERT OR REPLACE INTO plan_templates (name, data, updated_at) VALUES (?, ?, ?)",
                      (name, json.dumps(doc, sort_keys=True), now()))
    return {"name": name, **doc}


def load_template(store, name: str) -> dict:
    row = store.execute("SELECT data FROM plan_templates WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no template named {name!r}{_known(store, 'plan_templates')}")
    return json.loads(row["data"])


def list_templates(store) -> list:
    return [{"name": r["name"], **json.loads(r["data"]), "updated_at": r["updated_at"]}
            for r in store.execute("SELECT name, data, updated_at FROM plan_templates ORDER BY name")]


def delete_template(store, name: str) -> None:
    with store.atomic():
        if store.execute("DELETE FROM plan_templates WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"no template named {name!r}{_known(store, 'plan_templates')}")


def apply_template(store, template: dict, specs, options: dict, explicit=()) -> dict:
    """plan_files options with the template's policy, headroom and role order (except those named
    in `explicit`, which the caller set) and its per-role profiles for LoRAs without their own.
    A profile name the store does not know raises NotFound."""
    out = dict(options)
    for key in ("policy", "headroom", "role_order"):
        if key not in explicit:
            out[key] = tuple(template[key]) if key == "role_order" else template[key]
    profiles = dict(out.get("profiles") or {})
    roles = out.get("roles") or {}
    for path, _, _ in specs:
        if path in profiles:
            continue
        role = roles.get(path) or role_of_file(path, out.get("root"))
        value = template["profiles"].get(role) if role else None
        if isinstance(value, str):
            profiles[path] = (value, load_profile(store, value))
        elif value:
            profiles[path] = (f"template profile for {role}", value)
    out["profiles"] = profiles
    return out


# ---------------------------------------------------------------------------------------------
# Exports


def _check_format(fmt):
    if fmt not in FORMATS:
        raise InvalidDocument([f"format {fmt!r}: choose one of {', '.join(FORMATS)}"])


def _csv(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def plan_rows(plan_doc: dict) -> list:
    """One row per LoRA per vector position (PLAN_CSV), sorted by LoRA path then position."""
    rows = []
    for lo in sorted(plan_doc.get("loras", []), key=lambda lo: lo["path"]):
        ratio = {}
        for b in lo.get("blocks", []):
            ratio.setdefault(b["position"], b["ratio"])
        for p in lo.get("positions", []):
            rows.append([lo["path"], p, canonical_number(ratio.get(p, 1.0)), canonical_number(lo["strength_model"]),
                         canonical_number(lo["strength_clip"]), lo["block_vector"]])
    return rows


def export_plan(plan_doc: dict, fmt: str = "json") -> str:
    """A plan as JSON (the whole document, canonical) or CSV (PLAN_CSV columns)."""
    _check_format(fmt)
    if fmt == "json":
        return canonical_json(plan_doc).decode()
    return _csv(PLAN_CSV, plan_rows(plan_doc))


# ---------------------------------------------------------------------------------------------
# The library's block table


def block_table(store, root: str, progress=None) -> list:
    """One row per LoRA file per block (and per text encoder), from the store's cached analyses;
    the library is scanned first and missing analyses are computed and kept."""
    scan(store, root)
    rows, todo = [], []
    cached = {r[0]: r[1] for r in store.execute("SELECT lora_id, data FROM analysis WHERE analysis_version = ?",
                                                (str(ANALYSIS_VERSION),))}
    files = [r for r in load_rows(store) if r["ok"]]
    for i, r in enumerate(files):
        data = cached.get(r["lora_id"])
        if data is None:
            if progress:
                progress("analyze", i, len(files), r["path"])
            result = round_figures(analyze_file(os.path.join(root, r["path"])), 6)
            result.pop("path", None)
            data = cached[r["lora_id"]] = orjson.dumps(result, option=orjson.OPT_SORT_KEYS)
            todo.append((r["lora_id"], str(ANALYSIS_VERSION), data))
        a = orjson.loads(data)
        if not a.get("ok"):
            continue
        base = {"path": r["path"], "id": r["lora_id"], "architecture": a.get("architecture"), "adapter": a.get("adapter")}
        for b in a.get("blocks") or []:
            rows.append(base | {"kind": "block", "block": b["name"], **_figures(b)})
        for name, t in sorted((a.get("text_encoders") or {}).items()):
            rows.append(base | {"kind": "text_encoder", "block": name, **_figures(t)})
    if todo:
        with store.atomic():
            store.executemany("INSERT OR REPLACE INTO analysis (lora_id, analysis_version, data) VALUES (?, ?, ?)", todo)
    return rows


def _figures(d: dict) -> dict:
    return {k: d.get(k) for k in ("energy", "share", "spectral_norm", "effective_rank", "modules")}


def export_block_table(rows: list, fmt: str = "csv") -> str:
    """The block table as CSV (BLOCK_CSV columns, floats to 6 significant digits) or JSON."""
    _check_format(fmt)
    if fmt == "json":
        return canonical_json(rows).decode()

    def cell(v):
        return "" if v is None else f"{v:.6g}" if isinstance(v, float) else v
    return _csv(BLOCK_CSV, [[cell(r[c]) for c in BLOCK_CSV] for r in rows])
