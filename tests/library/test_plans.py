"""Saved plans, history, templates, exports, the block table (library/saved_plans.py, planning.py,
plan_templates.py, plan_exports.py, block_table.py) and profiles on real stores and the demo library's LoRAs: saved
plans loaded byte-identical with zero recompute, moved / vanished / changed files, history,
templates, profiles, exports, the block table, and the planner cache kept in the store."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3

import pytest

from lora_atlas.engine import plan_cache
from lora_atlas.engine.plan_cache import PlanCache
from lora_atlas.engine.planner import PlanError
from lora_atlas.library import analysis_cache, block_table, plan_exports, plan_templates, planning, profiles, saved_plans
from lora_atlas.library.errors import InvalidDocument, NotFound
from lora_atlas.library.store import DB_NAME, STATE_DIR, Store
from lora_atlas.demo.synthetic_loras import write_fixture

INK = "styles/ink_sketch_xl.safetensors"
PONY = "characters/red_hair_girl_pony.safetensors"
LOCON = "concepts/detail_tweaker_locon.safetensors"


@pytest.fixture
def lib(library_copy):
    """(root, open store) of a fresh copy of the demo library."""
    root = str(library_copy("demo"))
    store = Store.open(root)
    yield root, store
    store.close()


def _specs(root, *items):
    return [(os.path.join(root, rel), strength, None) for rel, strength in items]


def _no_compute(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("recomputed")
    monkeypatch.setattr(plan_cache, "stack_gram", boom)
    monkeypatch.setattr(planning, "plan_files", boom)


def test_save_list_load_byte_identical_without_recompute(lib, monkeypatch):
    root, store = lib
    plan, pid = planning.plan_and_record(store, root, _specs(root, (INK, 0.8), (PONY, 0.9)), save_as="duo",
                                      policy="role-priority")
    assert [p["name"] for p in saved_plans.list_plans(store)] == ["duo"]
    assert saved_plans.list_plans(store)[0]["id"] == pid and saved_plans.list_plans(store)[0]["schema_version"] == 1
    _no_compute(monkeypatch)
    doc, problems = saved_plans.load_plan(store, "duo", root)
    assert problems == [] and doc == plan
    assert plan_exports.canonical_json(doc) == plan_exports.canonical_json(plan)
    assert saved_plans.load_saved(store, str(pid), root).text.encode() == plan_exports.canonical_json(plan)
    inputs = saved_plans.load_saved(store, "duo", root).inputs
    assert inputs["policy"] == "role-priority" and [lo["rel"] for lo in inputs["loras"]] == [INK, PONY]
    assert all(lo["id"] for lo in inputs["loras"]) and inputs["loras"][0]["strength_model"] == 0.8


def test_unknown_names_and_taken_names(lib):
    root, store = lib
    with pytest.raises(NotFound, match="no saved plan named 'nope'"):
        saved_plans.load_plan(store, "nope", root)
    with pytest.raises(NotFound, match="no template named"):
        plan_templates.load_template(store, "nope")
    with pytest.raises(NotFound, match="no profile named"):
        profiles.load_profile(store, "nope")
    with pytest.raises(NotFound):
        profiles.delete_profile(store, "nope")
    with pytest.raises(NotFound):
        saved_plans.delete_plan(store, "nope")
    planning.plan_and_record(store, root, _specs(root, (INK, 1.0)), save_as="one")
    with pytest.raises(InvalidDocument, match="exists"):
        planning.plan_and_record(store, root, _specs(root, (INK, 1.0)), save_as="one")
    with pytest.raises(InvalidDocument, match="name"):
        saved_plans.save_plan(store, "  ", {"loras": []}, {})
    with pytest.raises(NotFound, match="known: one"):
        saved_plans.load_plan(store, "two", root)


def test_moved_file_found_by_stable_id_and_vanished_file_named(lib, monkeypatch):
    root, store = lib
    plan, _ = planning.plan_and_record(store, root, _specs(root, (INK, 0.8), (PONY, 0.9), (LOCON, 0.5)), save_as="trio")
    os.makedirs(os.path.join(root, "archive"))
    new = os.path.join(root, "archive", "ink.safetensors")
    os.rename(os.path.join(root, INK), new)
    os.remove(os.path.join(root, LOCON))
    monkeypatch.setattr(plan_cache, "stack_gram", lambda *a: pytest.fail("recomputed"))
    doc, problems = saved_plans.load_plan(store, "trio", root)
    assert any(f"{INK}: moved to {new}" in p and "using the new path" in p for p in problems)
    assert any(f"{LOCON}: vanished" in p for p in problems)
    assert doc["loras"][0]["path"] == new and doc["loras"][0]["block_vector"] == plan["loras"][0]["block_vector"]
    assert doc["loras"][1] == plan["loras"][1]


def test_changed_file_is_reported_on_load_and_recomputed_on_plan(lib):
    root, store = lib
    specs = _specs(root, (INK, 0.8), (PONY, 0.9))
    planning.plan_and_record(store, root, specs, save_as="duo")
    write_fixture("sdxl_lora", os.path.join(root, INK), rank=2, seed=99)      # new weights, same path
    _, problems = saved_plans.load_plan(store, "duo", root)
    assert any(f"{INK}: changed since the plan was saved" in p for p in problems)
    cache = PlanCache()
    plan, _ = planning.plan_and_record(store, root, specs, cache=cache)
    assert cache.computed == 1
    assert any("changed since its figures were cached: recomputed" in w for w in plan["warnings"])


def test_cache_persists_in_the_store_and_a_fresh_cache_is_warm(lib, monkeypatch):
    root, store = lib
    specs = _specs(root, (INK, 0.8), (PONY, 0.9), (LOCON, 0.5))
    cold, _ = planning.plan_and_record(store, root, specs)
    rows = store.execute("SELECT COUNT(*) FROM plan_cache_files").fetchone()[0], \
        store.execute("SELECT COUNT(*) FROM plan_cache_pairs").fetchone()[0]
    assert rows == (3, 3)
    store.close()
    monkeypatch.setattr(plan_cache, "stack_gram", lambda *a: pytest.fail("recomputed"))
    with Store.open(root) as again:
        cache = PlanCache()
        warm, _ = planning.plan_and_record(again, root, specs, cache=cache)
        assert cache.computed == 0 and warm == cold
        # a moved file keeps its stable id, size and mtime: still warm
        os.makedirs(os.path.join(root, "archive"))
        moved = os.path.join(root, "archive", "ink.safetensors")
        os.rename(specs[0][0], moved)
        planning.plan_and_record(again, root, [(moved, 0.8, None)] + specs[1:], cache=PlanCache())


def test_history_is_bounded_and_browsable(lib, monkeypatch):
    root, store = lib
    monkeypatch.setattr(saved_plans, "HISTORY_LIMIT", 3)
    for i in range(5):
        planning.plan_and_record(store, root, _specs(root, (INK, 0.5 + i / 10), (PONY, 0.9)))
    items = saved_plans.plan_history(store, 10)
    assert len(items) == 3 and items[0]["id"] > items[-1]["id"] and items[0]["plan_id"] is None
    entry = saved_plans.history_entry(store, items[0]["id"])
    assert entry["plan"]["loras"][0]["input"]["strength_model"] == 0.9 and entry["inputs"]["policy"] == "balanced"
    with pytest.raises(NotFound):
        saved_plans.history_entry(store, 9999)


def test_refused_plan_writes_nothing(lib):
    root, store = lib
    with pytest.raises(PlanError, match="unknown policy"):
        planning.plan_and_record(store, root, _specs(root, (INK, 0.8)), save_as="x", policy="loud")
    assert saved_plans.list_plans(store) == [] and saved_plans.plan_history(store) == []


def test_profiles_by_block_name_and_unknown_blocks_warn(lib):
    root, store = lib
    saved = profiles.save_profile(store, "soft-out", {"out": 0.5, "IN4": 0, "DOUBLE3": 0.2})
    assert saved["multipliers"] == {"DOUBLE3": 0.2, "IN4": 0.0, "OUT": 0.5}
    assert [p["name"] for p in profiles.list_profiles(store)] == ["soft-out"]
    for bad, bit in (({"OUTX": 1}, "not a block label"), ({"OUT": "x"}, "not a number"), ({"OUT": 99}, "range"),
                     ({}, "expected BLOCK"), ({"BASE3": 1}, "not a block label")):
        with pytest.raises(InvalidDocument, match=bit):
            profiles.save_profile(store, "bad", bad)
    mults = profiles.load_profile(store, "soft-out")
    plan, _ = planning.plan_and_record(store, root, _specs(root, (INK, 0.8), (PONY, 0.9)),
                                    profiles={os.path.join(root, PONY): ("soft-out", mults)})
    pony = plan["loras"][1]
    assert pony["profile"]["name"] == "soft-out" and any("profile applied" in n for n in pony["notes"])
    assert any("profile 'soft-out' names block(s) this file does not have: DOUBLE3" in w for w in plan["warnings"])
    assert {b["block"]: b["ratio"] for b in pony["blocks"]}["IN4"] == 0
    profiles.delete_profile(store, "soft-out")
    assert profiles.list_profiles(store) == []


def test_templates_apply_policy_and_role_profiles(lib):
    root, store = lib
    profiles.save_profile(store, "mute-in", {"IN": 0})
    plan_templates.save_template(store, "portrait", {"policy": "role-priority", "headroom": 0.2,
                                            "role_order": ["characters", "styles"],
                                            "profiles": {"styles": {"OUT": 0.5}, "characters": "mute-in"}})
    assert [t["name"] for t in plan_templates.list_templates(store)] == ["portrait"]
    specs = _specs(root, (INK, 0.8), (PONY, 0.9))
    options = plan_templates.apply_template(store, plan_templates.load_template(store, "portrait"), specs,
                                   {"policy": "none", "root": root}, explicit={"policy"})
    assert options["policy"] == "none" and options["headroom"] == 0.2
    assert options["profiles"][specs[0][0]] == ("template profile for styles", {"OUT": 0.5})
    assert options["profiles"][specs[1][0]] == ("mute-in", {"IN": 0.0})
    for bad, bit in (({"policy": "loud"}, "unknown policy"), ({"headroom": -1}, "headroom"),
                     ({"profiles": {"styles": {"OUTX": 1}}}, "not a block label"), ({"colour": 1}, "unknown field")):
        with pytest.raises(InvalidDocument, match=bit):
            plan_templates.save_template(store, "bad", bad)
    plan_templates.save_template(store, "ghost", {"profiles": {"styles": "nope"}})
    with pytest.raises(NotFound, match="no profile named 'nope'"):
        plan_templates.apply_template(store, plan_templates.load_template(store, "ghost"), specs, {"root": root})
    plan_templates.delete_template(store, "ghost")
    with pytest.raises(NotFound):
        plan_templates.delete_template(store, "ghost")


def test_exports_are_deterministic_rows_per_position(lib):
    root, store = lib
    plan, _ = planning.plan_and_record(store, root, _specs(root, (PONY, 0.9), (LOCON, 0.7)), save_as="duo")
    text = plan_exports.export_plan(plan, "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(plan_exports.PLAN_CSV)
    assert len(rows) - 1 == sum(len(lo["positions"]) for lo in plan["loras"])
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    locon = next(lo for lo in plan["loras"] if lo["path"].endswith(LOCON))
    mine = [r for r in rows[1:] if r[0] == locon["path"]]
    assert [r[1] for r in mine] == locon["positions"] and {r[5] for r in mine} == {locon["block_vector"]}
    assert all(r[2] == r[2].rstrip("0") or r[2] == "0" for r in rows[1:])
    assert plan_exports.export_plan(plan, "json") == plan_exports.canonical_json(plan).decode()
    doc, _ = saved_plans.load_plan(store, "duo", root)
    assert plan_exports.export_plan(doc, "csv") == text and "2025-" not in text + plan_exports.export_plan(doc, "json")
    with pytest.raises(InvalidDocument, match="format: one of json, csv, text, inspire, a1111, got 'xml'"):
        plan_exports.export_plan(plan, "xml")


def test_block_table_from_cached_analyses(lib, monkeypatch):
    root, store = lib
    rows = block_table.block_table(store, root)
    paths = sorted({r["path"] for r in rows})
    assert INK in paths and "broken_download.safetensors" not in paths
    ink = [r for r in rows if r["path"] == INK]
    assert ink[0]["block"] == "BASE" and {"block", "text_encoder"} >= {r["kind"] for r in ink}
    monkeypatch.setattr(analysis_cache, "analyze_file", lambda p: pytest.fail("analysis not cached"))
    again = block_table.block_table(store, root)
    assert again == rows
    text = block_table.export_block_table(rows, "csv")
    assert text.splitlines()[0] == ",".join(block_table.BLOCK_CSV) and len(text.splitlines()) == len(rows) + 1
    assert json.loads(block_table.export_block_table(rows, "json")) == rows


def test_v3_store_with_a_saved_plan_upgrades_in_place(tmp_path, lib):
    """A store written at schema 3 (saved_plans without inputs) opens at 4 and its plans load."""
    root, store = lib
    plan, _ = planning.plan_and_record(store, root, _specs(root, (INK, 0.8)), history=False)
    store.close()
    old = str(tmp_path / "old")
    with Store.open(old, upto=3) as v3:
        v3.execute("INSERT INTO saved_plans (name, data, created_at) VALUES ('legacy', ?, 'then')",
                   (plan_exports.canonical_json(plan).decode(),))
        v3.execute("INSERT INTO profiles (name, data) VALUES ('p', '{\"OUT\": 0.5}')")
    with Store.open(old) as v4:
        assert v4.version() >= 4
        doc, problems = saved_plans.load_plan(v4, "legacy", None)
        assert doc == plan and problems == []
        assert profiles.load_profile(v4, "p") == {"OUT": 0.5}
        assert {"plan_templates", "plan_cache_files", "plan_cache_pairs"} <= {
            r[0] for r in v4.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn = sqlite3.connect(os.path.join(old, STATE_DIR, DB_NAME))
    assert [r[1] for r in conn.execute("PRAGMA table_info(saved_plans)")][-2:] == ["inputs", "schema_version"]


def test_whole_library_moved_uses_the_new_root(lib, tmp_path):
    root, store = lib
    planning.plan_and_record(store, root, _specs(root, (INK, 0.8), (PONY, 0.9)), save_as="duo")
    store.close()
    moved = str(tmp_path / "elsewhere")
    shutil.move(root, moved)
    with Store.open(moved) as again:
        doc, problems = saved_plans.load_plan(again, "duo", moved)
    assert len(problems) == 2 and all("same place under the library root" in p for p in problems)
    assert [lo["path"] for lo in doc["loras"]] == [os.path.join(moved, INK), os.path.join(moved, PONY)]
