"""The comfy host's graph rules (web/comfy/graph_plan.js) run in node on plain data: which ComfyUI
LoRA name a plan's file is, which nodes a plan becomes with and without Inspire, where the chain
is wired, and which LoRAs a graph loads. The same module runs in ComfyUI (tests/integration/
test_panel_comfyui.py drives it there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "web", "comfy", "graph_plan.js")


@pytest.fixture(scope="module")
def results():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the web/comfy graph rules are checked in ComfyUI only")
    proc = subprocess.run([node, os.path.join(HERE, "comfy_graph_plan_cases.mjs"), "file://" + MODULE],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_plan_paths_become_comfyui_names_by_longest_suffix_at_a_folder(results):
    assert results["nameForPath"] == ["characters/hero.safetensors", "hero.safetensors", "sub\\win.safetensors", None]
    assert results["resolve"] == ["sub\\win.safetensors", None]
    assert results["item"] == ["sub\\win.safetensors", "styles/watercolor.safetensors", None]


def test_with_inspire_one_block_weight_loader_per_lora_prefilled(results):
    spec = results["inspire"]
    assert [n["type"] for n in spec["nodes"]] == ["LoraLoaderBlockWeight //Inspire"] * 2
    assert all(n["chain"] for n in spec["nodes"]) and spec["links"] == []
    assert spec["nodes"][0]["widgets"] == {"lora_name": "characters/hero.safetensors", "strength_model": 0.8,
                                           "strength_clip": 0.77, "block_vector": "1,0.9,1"}
    assert spec["unresolved"] == ["/elsewhere/gone.safetensors"]


def test_without_inspire_a_prefilled_planner_feeds_one_apply_plan(results):
    spec = results["fallback"]
    assert [n["type"] for n in spec["nodes"]] == ["LoraAtlasPlanner", "LoraAtlasApplyPlan"]
    assert [n["chain"] for n in spec["nodes"]] == [False, True]
    assert spec["nodes"][0]["widgets"] == {"policy": "balanced", "headroom": 0.5,
                                           "lora_1": "characters/hero.safetensors", "strength_1": 1.0,
                                           "lora_2": "styles/watercolor.safetensors", "strength_2": 0.6}
    assert spec["links"] == [{"from": 0, "output": "lora_plan", "to": 1, "input": "lora_plan"}]


def test_more_loras_than_planner_slots_go_through_a_stack_chain(results):
    spec = results["fallbackMany"]
    types = [n["type"] for n in spec["nodes"]]
    assert types == ["LoraAtlasPlanner"] + ["LoraAtlasStack"] * 5 + ["LoraAtlasApplyPlan"]
    assert not any(k.startswith("lora_") for k in spec["nodes"][0]["widgets"])
    assert {"from": 5, "output": "lora_stack", "to": 0, "input": "lora_stack"} in spec["links"]
    assert [l for l in spec["links"] if l["to"] in range(1, 6)] == [
        {"from": i, "output": "lora_stack", "to": i + 1, "input": "lora_stack"} for i in range(1, 5)]


def test_the_chain_follows_the_selected_model_node_or_the_only_checkpoint_loader(results):
    auto = results["anchorAuto"]
    assert auto == {"node": 1, "model": 0, "clip": 1, "modelTargets": [{"node": 3, "slot": 0}],
                    "clipTargets": [{"node": 4, "slot": 0}, {"node": 5, "slot": 0}]}
    assert results["anchorSelected"]["node"] == 2
    assert results["anchorSelectedNoModel"]["node"] == 1     # a selection without MODEL: the checkpoint loader
    assert results["anchorTwoSelected"] is None             # two MODEL nodes selected: not guessed
    assert results["anchorAmbiguous"] is None
    # side by side by their widths, 40 apart
    assert results["row"] == [[10, 200], [350, 200]] and results["rowOrigin"] == [[5, 6], [345, 6]]
    # under the nodes in the row's columns (x 10..690) below the anchor: not the one at x 900, not above
    assert results["rowBelowOthers"] == [[10, 530], [350, 530]]


def test_graph_loras_read_loaders_and_planner_slots(results):
    assert results["loras"] == [
        {"name": "hero.safetensors", "strength": 0.7, "node": 2, "type": "LoraLoader"},
        {"name": "a.safetensors", "strength": 0.4, "node": 6, "type": "LoraAtlasPlanner"}]
    assert results["drag"] == [{"id": "a", "lora_name": "x"}, None, None]
