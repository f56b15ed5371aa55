"""A LoRA's role is the same on every face: the listing (routes, Browser), index.json,
config.yaml and the planner, before and after organize. A LoRA dropped at the root and organized
into a folder of its own has no role; one organized inside a category keeps the category."""

from __future__ import annotations

import json
import os

import yaml

from lora_atlas.library import operations, planning
from lora_atlas.library.queries import index_items
from lora_atlas.library.roles import folder_is_own, role_at, role_from_relpath, role_of_file, role_on_disk
from lora_atlas.library.scan import load_rows
from lora_atlas.library.store import Store
from lora_atlas.demo.synthetic_loras import write_fixture


def _listing_roles(root) -> dict:
    with Store.open(root) as store:
        return {item["path"]: item["role"] for item in index_items(root, load_rows(store)) if item["ok"]}


def test_roles_agree_on_every_face_after_organize(library):
    root, _ = library
    operations.scan_library(root)
    before = _listing_roles(root)
    assert before["loose_wan.safetensors"] is None and before["styles/watercolor.safetensors"] == "styles"
    operations.organize(root)
    after = _listing_roles(root)
    assert after["loose-wan/loose_wan.safetensors"] is None            # was: the slug "loose-wan"
    assert after["styles/watercolor/watercolor.safetensors"] == "styles"
    assert after["characters/hero/hero.safetensors"] == "characters"
    index = json.load(open(os.path.join(root, "index.json")))
    for entry in index.values():
        if not entry["compatible"]:
            continue
        rel = f"{entry['folder']}/{entry['filename']}"
        with open(os.path.join(root, entry["folder"], "config.yaml"), "rb") as fh:
            config_role = yaml.safe_load(fh)["role"]
        assert after[rel] == entry["role"] == config_role == role_of_file(os.path.join(root, rel), root), rel
    assert sorted({r for r in after.values() if r}) == ["characters", "concepts", "styles"]


def test_the_planner_reads_the_same_role(library):
    root, _ = library
    operations.organize(root)
    with Store.open(root) as store:
        plan, _ = planning.plan_and_record(store, root, [(os.path.join(root, "loose-wan/loose_wan.safetensors"), 0.8, None)],
                                        history=False)
    assert [lo["role"] for lo in plan["loras"]] == [None]


def test_own_folder_rule(tmp_path):
    root = tmp_path / "lib"
    for rel in ("solo/solo.safetensors", "poses/standing.safetensors", "pair/a.safetensors", "pair/b.safetensors"):
        os.makedirs(root / os.path.dirname(rel), exist_ok=True)
        write_fixture("sd1_lora", str(root / rel), rank=1, sparse=True)
    assert role_at("solo/solo.safetensors", str(root / "solo")) is None          # named like the LoRA: its own
    assert role_at("poses/standing.safetensors", str(root / "poses")) == "poses"  # a category holding one LoRA
    assert role_at("pair/a.safetensors", str(root / "pair")) == "pair"
    (root / "poses" / "config.yaml").write_text("filename: standing.safetensors\n")
    assert role_at("poses/standing.safetensors", str(root / "poses")) is None      # organize wrote it: its own
    assert folder_is_own("styles/Ink Sketch", "ink_sketch.safetensors", 1, False)
    assert not folder_is_own("_incompatible/pickle", "x.safetensors", 1, True)
    assert not folder_is_own("", "x.safetensors", 1, True)
    assert role_from_relpath("styles/ink/ink.safetensors", own_folder=True) == "styles"
    assert role_from_relpath("_incompatible/x/x.safetensors", own_folder=True) is None


def test_role_on_disk_without_and_with_a_store(tmp_path):
    lib = tmp_path / "lib"
    (lib / ".lora-atlas").mkdir(parents=True)
    (lib / "mystuff" / "x").mkdir(parents=True)
    assert role_on_disk(str(lib / "mystuff" / "x" / "a.safetensors")) == ("mystuff", str(lib))
    assert role_on_disk(str(lib / "a.safetensors"))[0] is None
    assert role_on_disk(str(tmp_path / "other" / "styles" / "slug" / "a.safetensors"))[0] == "styles"
    assert role_on_disk(str(tmp_path / "plain" / "a.safetensors")) == (None, None)
    assert role_on_disk(str(tmp_path / "x" / "a.safetensors"), root=str(tmp_path)) == ("x", str(tmp_path))
