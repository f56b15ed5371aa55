"""The node classes called as ComfyUI calls them, with real tensors and real fixture LoRAs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lora_atlas import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from lora_atlas.nodes.analyzer import LoraAtlasBlockAnalyzer
from lora_atlas.nodes.browser import PICK_FILTERS, LoraAtlasBrowser
from lora_atlas.nodes.planner import LoraAtlasPlanner
from lora_atlas.nodes.stack import LoraAtlasPlanToStack, LoraAtlasStack


def test_every_node_declares_a_v1_interface():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS)
    for cls in NODE_CLASS_MAPPINGS.values():
        assert cls.CATEGORY == "LoRA Atlas"
        assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)
        assert hasattr(cls, cls.FUNCTION)
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional", "hidden"}


def test_browser_filters_and_outputs(service):
    name, weight, words, info, preview = LoraAtlasBrowser().browse("styles/watercolor", "sd1", "styles", "any", "path", 0)
    assert name == "styles/watercolor.safetensors" and weight == 1.0
    assert json.loads(info)["architecture"] == "sd1"
    assert isinstance(preview, torch.Tensor) and preview.shape == (1, 1, 1, 3) and 0 <= float(preview.max()) <= 1
    second = LoraAtlasBrowser().browse("", "sd1", "", "any", "path", 1)[0]
    assert second == "concepts/texture.safetensors"
    no_preview = LoraAtlasBrowser().browse("", "sdxl", "", "any", "path", 0)[4]
    assert no_preview.shape == (1, 64, 64, 3)
    direct = LoraAtlasBrowser().browse("", "any", "", "any", "path", 0, lora_name="characters/hero.safetensors")
    assert direct[0] == "characters/hero.safetensors"
    with pytest.raises(ValueError, match="no LoRA matches"):
        LoraAtlasBrowser().browse("zzz", "any", "", "any", "path", 0)
    sig = LoraAtlasBrowser.IS_CHANGED(search="", architecture="sd1", role="", adapter="any", sort="path", index=0,
                                      lora_name=PICK_FILTERS)
    assert isinstance(sig, str)


def test_browser_sees_library_changes(service, library):
    import os
    before = LoraAtlasBrowser.IS_CHANGED(search="styles/watercolor", architecture="any", role="", adapter="any",
                                         sort="path", index=0)
    os.utime(os.path.join(library, "styles", "watercolor.safetensors"), ns=(1, 1))
    after = LoraAtlasBrowser.IS_CHANGED(search="styles/watercolor", architecture="any", role="", adapter="any",
                                        sort="path", index=0)
    assert before != after


def test_analyzer_chart_table_json(service):
    chart, table, doc = LoraAtlasBlockAnalyzer().run("styles/watercolor.safetensors", 512)
    assert chart.shape[0] == 1 and chart.shape[2] == 512 and chart.shape[3] == 3 and chart.dtype == torch.float32
    assert "IN4" in table and "energy" in table
    assert json.loads(doc)["architecture"] == "sd1"
    assert LoraAtlasBlockAnalyzer.VALIDATE_INPUTS("nope.safetensors") != True  # noqa: E712
    assert LoraAtlasBlockAnalyzer.VALIDATE_INPUTS("styles/watercolor.safetensors") is True
    assert math.isnan(LoraAtlasBlockAnalyzer.IS_CHANGED("../x.safetensors"))
    with pytest.raises(ValueError, match="cannot be analysed"):
        LoraAtlasBlockAnalyzer().run("broken.safetensors")


def test_analyzer_and_browser_use_the_library_store(service, library, monkeypatch):
    """The Analyzer reads the analysis the store keeps (the detail route's), measuring a LoRA once;
    the Browser takes default weight and trigger words from config.yaml as the detail route does."""
    from lora_atlas.library import analysis_cache
    measured = []
    real = analysis_cache.analyze_file
    monkeypatch.setattr(analysis_cache, "analyze_file", lambda p: measured.append(p) or real(p))
    first = json.loads(LoraAtlasBlockAnalyzer().run("styles/watercolor.safetensors", 256)[2])
    again = json.loads(LoraAtlasBlockAnalyzer().run("styles/watercolor.safetensors", 256)[2])
    assert first == again and len(measured) == 1
    with open(f"{library}/styles/config.yaml", "w") as fh:
        fh.write("default_weight: 0.6\ntrigger_words: [wcstyle]\n")
    service.refresh()
    name, weight, words, info, _ = LoraAtlasBrowser().browse("styles/watercolor", "any", "", "any", "path", 0)
    assert (weight, words) == (0.6, "wcstyle") and json.loads(info)["default_weight"] == 0.6


def test_stack_planner_and_plan_to_stack(service):
    (stack,) = LoraAtlasStack().add("styles/watercolor.safetensors", 0.9, 0.9)
    (stack,) = LoraAtlasStack().add("characters/hero.safetensors", 0.8, 0.5, lora_stack=stack)
    (same,) = LoraAtlasStack().add("None", 1.0, 1.0, lora_stack=stack)
    assert same == stack and len(stack) == 2
    out = LoraAtlasPlanner().plan("balanced", 0.5, lora_stack=stack, lora_1="concepts/texture.safetensors", strength_1=0.6)
    lora_plan, text, planned_stack, *slots = out["result"]
    assert len(out["result"]) == len(LoraAtlasPlanner.RETURN_TYPES)
    assert [lo["lora_name"] for lo in lora_plan["loras"]] == ["styles/watercolor.safetensors",
                                                               "characters/hero.safetensors",
                                                               "concepts/texture.safetensors"]
    assert slots[0] == lora_plan["loras"][0]["block_vector"] and slots[1] == lora_plan["loras"][0]["strength_model"]
    assert slots[9:] == ["", 0.0, 0.0]
    assert "policy balanced" in text and out["ui"]["text"] == [text]
    assert LoraAtlasPlanToStack().convert(lora_plan)[0] == planned_stack
    for lo in lora_plan["loras"]:
        assert lo["positions"][0] == "BASE" and len(lo["block_vector"].split(",")) >= 12


def test_planner_refuses_mixed_and_empty_stacks(service):
    with pytest.raises(ValueError, match="empty"):
        LoraAtlasPlanner().plan("balanced", 0.5)
    with pytest.raises(ValueError, match="cannot plan"):
        LoraAtlasPlanner().plan("balanced", 0.5, lora_1="styles/watercolor.safetensors", lora_2="styles/ink_xl.safetensors")
    with pytest.raises(ValueError):
        LoraAtlasPlanner().plan("balanced", 0.5, lora_1="../../etc/passwd")


def test_planner_validates_typed_slot_names(service):
    assert LoraAtlasPlanner.VALIDATE_INPUTS(lora_1="styles/watercolor.safetensors", lora_2=None, lora_3="None") is True
    assert "lora_2" in LoraAtlasPlanner.VALIDATE_INPUTS(lora_1="styles/watercolor.safetensors", lora_2="gone.safetensors")


def test_planner_checks_the_model_family(service):
    class SDXL:                       # the class name is what ComfyUI's model config is called
        pass

    class Model:
        model = type("BaseModel", (), {"model_config": SDXL()})()

    with pytest.raises(ValueError, match="MODEL is a sdxl checkpoint"):
        LoraAtlasPlanner().plan("balanced", 0.5, model=Model(), lora_1="styles/watercolor.safetensors")


def test_planner_tells_flux2_from_flux(service, library):
    """ComfyUI 0.33.0's Flux2 class name starts with Flux: a Flux.1 stack must not pass on it."""
    from lora_atlas.demo.synthetic_loras import write_fixture
    write_fixture("flux_lora", f"{library}/styles/flux_ink.safetensors", rank=1)
    service.refresh()

    def model(class_name):
        config = type(class_name, (), {})()
        return type("Model", (), {"model": type("BaseModel", (), {"model_config": config})()})()

    with pytest.raises(ValueError, match="the stack is flux but the MODEL is a flux2 checkpoint"):
        LoraAtlasPlanner().plan("balanced", 0.5, model=model("Flux2"), lora_1="styles/flux_ink.safetensors")
    assert LoraAtlasPlanner().plan("balanced", 0.5, model=model("Flux"), lora_1="styles/flux_ink.safetensors")


@pytest.mark.parametrize("class_name, family", [
    ("Flux2", "flux2"), ("Flux", "flux"), ("ChromaRadiance", "flux"), ("HunyuanVideo15", "hunyuan_video15"),
    ("HunyuanVideo", "hunyuan_video"), ("ZImage", "z_image"), ("Lumina2", "lumina2"), ("WAN22_T2V", "wan"),
    ("LTXAV", "ltxv"), ("Kandinsky5Image", "kandinsky5"), ("Krea2", "krea2"), ("QwenImage", "qwen_image"),
    ("Anima", "anima"), ("HunyuanImage21", "hunyuan_image"), ("ErnieImage", "ernie_image"),
    ("Omnigen2", "omnigen2"), ("Lens", None),
])
def test_model_family_of_comfyui_033_classes(class_name, family):
    """The MODEL check compares ComfyUI's model class with the stack's family (engine FAMILY roots)."""
    from lora_atlas.engine.architecture import ARCHITECTURES, FAMILY
    from lora_atlas.nodes.planner import model_family
    config = type(class_name, (), {})()
    model = type("Model", (), {"model": type("BaseModel", (), {"model_config": config})()})()
    assert model_family(model) == family
    assert family is None or (family in ARCHITECTURES and FAMILY.get(family, family) == family)


def test_apply_plan_block_ratios_follow_inspire_positions():
    from lora_atlas.engine.taxonomy import rules_for
    from lora_atlas.nodes.apply_plan import block_ratios, patch_ratio
    positions = ["BASE", "IN4", "MID1+OUT1", "OUT3"]
    by_label, base = block_ratios(positions, "0.5,0.25,0,0.75" + ",1" * 8)
    assert base == 0.5 and by_label == {"BASE": 0.5, "IN4": 0.25, "MID1": 0.0, "OUT1": 0.0, "OUT3": 0.75}
    rules = rules_for("sd1")
    assert patch_ratio("input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight", rules, by_label, base) == 0.25
    assert patch_ratio("output_blocks.1.1.proj_in.weight", rules, by_label, base) == 0.0
    assert patch_ratio("time_embed.0.weight", rules, by_label, base) == 0.5      # BASE
    dit = rules_for("flux")
    assert patch_ratio("double_blocks.3.img_attn.qkv.weight", dit, {"DOUBLE3": 0.4}, 1.0) == 0.4
