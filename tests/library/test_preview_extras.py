"""The A/B pair, the block-weight grid's rows and prompt, and Save as LoRA Preview's writer, without a
server. Rendering itself runs on a real ComfyUI in tests/integration/test_previews_inprocess.py;
`PairClient` (tests/helpers/preview_doubles.py) is a test double of the client interface."""

from __future__ import annotations

import json
import os

import pytest

from libraries import PNG_1x1, tree_hashes   # tests/helpers
from lora_atlas.engine.block_vectors import populate
from lora_atlas.library import config_files as cf
from lora_atlas.library import operations
from lora_atlas.library.errors import InvalidDocument
from lora_atlas.library.previews import grid, render
from lora_atlas.library.previews.save import save_preview
from preview_doubles import GRID, WITH, WITHOUT, PairClient, organized_preview_library   # tests/helpers


@pytest.fixture
def lib(tmp_path):
    return organized_preview_library(tmp_path / "lib")


def _read(root, rel) -> bytes:
    with open(os.path.join(root, rel), "rb") as fh:
        return fh.read()


def test_the_ab_pair_writes_the_baseline_beside_the_preview_and_undo_removes_both(lib):
    organized = tree_hashes(lib)
    client = PairClient(["characters/hero/hero.safetensors", "concepts/texture/texture.safetensors"])
    report = render.render_previews(lib, [client], ab=True)
    hero = next(r for r in report.results if r.path.endswith("hero.safetensors"))
    assert hero.status == "ok", hero
    assert hero.files == ["characters/hero/preview.png", "characters/hero/hero.preview.png",
                          "characters/hero/preview.base.png"]
    assert _read(lib, "characters/hero/preview.png") == WITH and _read(lib, "characters/hero/preview.base.png") == WITHOUT
    def prefix(g):
        return next(n["inputs"]["filename_prefix"] for n in g.values() if n["class_type"] == "SaveImage")

    def has_lora(g):
        return any(n["class_type"] == "LoraLoader" for n in g.values())
    # the dispatcher may have two previews in flight, so a baseline is paired by its LoRA's save prefix
    baselines = {prefix(g).removesuffix("_base"): g for g in client.queued if not has_lora(g)}
    pairs = [(g, baselines[prefix(g)]) for g in client.queued if has_lora(g)]
    assert len(pairs) == 2 == len(baselines)
    for with_lora, without in pairs:                      # the same seed and prompt, only the LoRA differs
        seeds = {n["inputs"]["seed"] for g in (with_lora, without) for n in g.values() if n["class_type"] == "KSampler"}
        assert len(seeds) == 1
        assert not any(n["class_type"] == "LoraLoader" for n in without.values())
    assert cf.existing_preview(os.path.join(lib, "characters/hero"), "hero") == "preview.png"
    operations.undo(lib)
    assert tree_hashes(lib) == organized


def test_grid_rows_are_the_files_block_groups_alone():
    positions = ["BASE", "IN1", "IN2", "MID1+OUT1", "OUT3"]
    rows = dict(grid.group_rows(positions))
    assert list(rows) == ["IN", "MID", "OUT"]
    assert populate(rows["IN"], positions) == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert populate(rows["MID"], positions) == [0.0, 0.0, 0.0, 1.0, 0.0]       # a merged position is in both rows
    assert populate(rows["OUT"], positions) == [0.0, 0.0, 0.0, 1.0, 1.0]
    flux = dict(grid.group_rows(["BASE", "DOUBLE0", "DOUBLE1", "SINGLE0"]))
    assert list(flux) == ["DOUBLE", "SINGLE"]
    assert populate(flux["SINGLE"], ["BASE", "DOUBLE0", "DOUBLE1", "SINGLE0"]) == [0.0, 0.0, 0.0, 1.0]


def test_grid_strengths_are_checked():
    assert grid.parse_strengths("0.5, 1") == [0.5, 1.0]
    assert grid.parse_strengths([0.25]) == [0.25]
    for bad in ("", "a,b", "1," * 9, "11"):
        with pytest.raises(InvalidDocument):
            grid.parse_strengths(bad)


def test_the_grid_is_one_prompt_through_the_grid_node_written_through_the_journal(lib):
    organized = tree_hashes(lib)
    client = PairClient(["characters/hero/hero.safetensors"])
    report = grid.render_grid(lib, "characters/hero/hero.safetensors", client, strengths="0.5,1")
    (result,) = report.results
    assert result.status == "ok" and result.files == ["characters/hero/preview.grid.png"], result
    assert _read(lib, "characters/hero/preview.grid.png") == GRID
    (prompt,) = client.queued
    node = next(n for n in prompt.values() if n["class_type"] == grid.GRID_NODE)
    assert node["inputs"]["strengths"] == "0.5,1" and node["inputs"]["lora_name"] == "characters/hero/hero.safetensors"
    assert node["inputs"]["width"] == 64 and node["inputs"]["steps"] == 2
    operations.undo(lib)
    assert tree_hashes(lib) == organized

    without = grid.render_grid(lib, "characters/hero/hero.safetensors", PairClient(["characters/hero/hero.safetensors"],
                                                                                   nodes=()))
    assert without.results[0].status == "failed" and "install LoRA Atlas" in without.results[0].reason


def test_save_as_preview_keeps_a_placed_preview_unless_overwrite_and_undo_restores_it(lib):
    report = save_preview(lib, "characters/hero/hero.safetensors", WITH, width=8, height=8)
    assert report.results[0].status == "ok" and report.run
    assert _read(lib, "characters/hero/preview.png") == WITH
    config = cf.read_config(os.path.join(lib, "characters/hero/config.yaml"))
    assert config["preview_image"] == "preview.png" and config["preview_render"]["source"] == "Save as LoRA Preview"
    with open(os.path.join(lib, "index.json")) as fh:
        assert {e["filename"]: e for e in json.load(fh).values()}["hero.safetensors"]["has_preview"]
    again = save_preview(lib, "characters/hero/hero.safetensors", WITHOUT)     # ours: replaced without overwrite
    assert again.results[0].status == "ok" and _read(lib, "characters/hero/preview.png") == WITHOUT

    placed = tree_hashes(lib)
    folder = [p for p in placed if p.endswith("watercolor.safetensors")][0].rsplit("/", 1)[0]
    user_preview = next(p for p in placed if p.startswith(folder + "/") and ".preview." in p or p == folder + "/preview.png")
    kept = save_preview(lib, folder + "/watercolor.safetensors", WITH)
    assert kept.results[0].status == "skipped" and "--force" in kept.results[0].reason
    assert tree_hashes(lib) == placed
    replaced = save_preview(lib, folder + "/watercolor.safetensors", WITH, overwrite=True)
    assert replaced.results[0].status == "ok" and _read(lib, user_preview) == WITH
    operations.undo(lib)
    assert tree_hashes(lib) == placed
    with pytest.raises(InvalidDocument):
        save_preview(lib, folder + "/watercolor.safetensors", b"not a png")
    assert PNG_1x1 != WITH
