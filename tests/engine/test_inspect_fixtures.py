"""Exact classification and Inspire positions of every fixture format (issue: foundation)."""

from __future__ import annotations

import pytest

from lora_atlas.engine.inspect import inspect_file

SD1_17 = ["BASE", "IN1", "IN2", "IN4", "IN5", "IN7", "IN8", "MID1"] + [f"OUT{i}" for i in range(3, 12)]
SD1_27 = ["BASE"] + [f"IN{i}" for i in range(1, 12)] + ["MID0", "MID1", "MID2"] + [f"OUT{i}" for i in range(12)]
SDXL_12 = ["BASE", "IN4", "IN5", "IN7", "IN8", "MID1"] + [f"OUT{i}" for i in range(6)]
SDXL_21 = ["BASE"] + [f"IN{i}" for i in range(1, 9)] + ["MID0", "MID1", "MID2"] + [f"OUT{i}" for i in range(9)]
FLUX_58 = ["BASE"] + [f"DOUBLE{i}" for i in range(19)] + [f"SINGLE{i}" for i in range(38)]
FLUX_39 = ["BASE"] + [f"SINGLE{i}" for i in range(38)]
FLUX_20 = ["BASE"] + [f"DOUBLE{i}" for i in range(19)]
HUNYUAN_61 = ["BASE"] + [f"DOUBLE{i}" for i in range(20)] + [f"SINGLE{i}" for i in range(40)]

# fixture -> (architecture, variant, adapter, dora, text encoders, blocks)
EXPECTED = {
    "sd1_lora": ("sd1", None, "lora", False, ["clip_l"], SD1_17),
    "sd1_nometa": ("sd1", None, "lora", False, [], SD1_17),
    "sd1_locon": ("sd1", None, "locon", False, [], SD1_27),
    "sd1_locon_tucker": ("sd1", None, "locon", False, [], SD1_27),
    "sd1_loha": ("sd1", None, "loha", False, [], SD1_27),
    "sd1_lokr": ("sd1", None, "lokr", False, [], SD1_17),
    "sd1_glora": ("sd1", None, "glora", False, [], SD1_17),
    "sd1_oft": ("sd1", None, "oft", False, [], SD1_17),
    "sd1_boft": ("sd1", None, "boft", False, [], SD1_17),
    "sd1_attn_processor": ("sd1", None, "lora", False, [], SD1_17),
    "sd2_lora": ("sd2", None, "lora", False, ["clip_h"], SD1_17),
    "sdxl_lora": ("sdxl", None, "lora", False, ["clip_l", "clip_g"], SDXL_12),
    "sdxl_locon": ("sdxl", None, "locon", False, [], SDXL_21),
    "sdxl_pony": ("sdxl", None, "lora", False, [], SDXL_12),
    "sdxl_illustrious": ("sdxl", None, "lora", False, [], SDXL_12),
    "sdxl_partial": ("sdxl", None, "lora", False, [], ["BASE", "IN8", "MID1+OUT1"]),
    "sdxl_loha": ("sdxl", None, "loha", False, [], SDXL_12),
    "sdxl_dora": ("sdxl", None, "lora", True, [], SDXL_12),
    "sdxl_peft": ("sdxl", None, "lora", False, ["clip_l", "clip_g"], SDXL_12),
    "sdxl_full_diff": ("sdxl", None, "full", False, [], ["BASE", "IN4", "OUT3"]),
    "flux_lora": ("flux", "dev, full", "lora", False, ["clip_l", "t5xxl"], FLUX_58),
    "flux_single": ("flux", "single-only", "lora", False, [], FLUX_39),
    "flux_double": ("flux", "double-only", "lora", False, [], FLUX_20),
    "flux_partial": ("flux", "partial", "lora", False, [], ["BASE", "DOUBLE7", "DOUBLE8", "DOUBLE9+SINGLE9", "SINGLE20"]),
    "flux_peft": ("flux", "full", "lora", False, [], FLUX_58),
    "flux_onetrainer": ("flux", "full", "lora", False, ["t5xxl"], FLUX_58),
    "flux_lokr": ("flux", "full", "lokr", False, [], FLUX_58),
    "flux_xlabs": ("flux", "double-only", "lora", False, [], ["BASE"]),  # Inspire loads none of it
    "chroma_lora": ("chroma", "full", "lora", False, [], FLUX_58),
    "hunyuan_video": ("hunyuan_video", "full", "lora", False, [], HUNYUAN_61),
    "sd3_lora": ("sd3", "medium", "lora", False, [], ["BASE"]),
    "sd3_peft": ("sd3", "3.5-large", "lora", False, [], ["BASE"]),
    "wan_lora": ("wan", "14B", "lora", False, [], ["BASE"]),
    "wan_1_3b": ("wan", "2.1-1.3B", "lora", False, [], ["BASE"]),
    "qwen_image": ("qwen_image", None, "lora", False, [], ["BASE"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_classification(lora_files, name):
    arch, variant, adapter, dora, encoders, blocks = EXPECTED[name]
    r = inspect_file(lora_files(name))
    assert r.ok, r.error
    assert (r.architecture, r.variant, r.adapter, r.dora, r.text_encoder) == (arch, variant, adapter, dora, encoders)
    assert r.blocks == blocks


def test_standard_lengths():
    assert (len(SD1_17), len(SD1_27), len(SDXL_12), len(SDXL_21), len(FLUX_58), len(FLUX_39), len(FLUX_20), len(HUNYUAN_61)) == (
        17, 27, 12, 21, 58, 39, 20, 61)


def test_rank_and_alpha_read_from_the_file(lora_files):
    r = inspect_file(lora_files("sdxl_lora", rank=4))
    assert (r.rank, r.alpha) == (4, 1.0)
    peft = inspect_file(lora_files("flux_peft", rank=3))
    assert (peft.rank, peft.alpha) == (3, None)  # no alpha tensors: ComfyUI scales by 1


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32"])
def test_dtypes(lora_files, dtype):
    r = inspect_file(lora_files("sd1_lora", dtype=dtype, sparse=False))
    assert r.ok and r.alpha == 1.0 and r.blocks == SD1_17


def test_metadata_facts(lora_files):
    r = inspect_file(lora_files("sdxl_lora"))
    assert r.title == "Ink Sketch"
    assert r.trigger_words == ["inksketch", "monochrome"]
    assert r.training_base == "sd_xl_base_1.0.safetensors"
    assert r.has_thumbnail is True
    assert r.base_model_hint == "sdxl_base"
    sd1 = inspect_file(lora_files("sd1_lora"))
    assert sd1.trigger_words == ["watercolor", "painting", "1girl"]
    assert sd1.title == "watercolor_style"


@pytest.mark.parametrize("name, hint", [("sdxl_pony", "pony"), ("sdxl_illustrious", "illustrious"), ("sdxl_pony_tags", "pony")])
def test_base_model_hints(lora_files, name, hint):
    assert inspect_file(lora_files(name)).base_model_hint == hint


def test_metadata_decides_chroma_and_keys_win_contradictions(lora_files):
    r = inspect_file(lora_files("flux_single", metadata=(("modelspec.architecture", "stable-diffusion-xl-v1-base/lora"),)))
    assert r.architecture == "flux"
    assert any("metadata says sdxl" in w for w in r.warnings)


def test_names_comfyui_does_not_map_are_flagged(lora_files):
    r = inspect_file(lora_files("sdxl_peft"))
    assert any("560 of 986 module(s) use names ComfyUI does not map" in w for w in r.warnings), r.warnings
    assert any("ComfyUI does not map" in w for w in inspect_file(lora_files("flux_xlabs")).warnings)
    assert not any("does not map" in w for w in inspect_file(lora_files("sdxl_lora")).warnings)


def test_inspire_drop_warnings(lora_files):
    assert any("context_block" in w for w in inspect_file(lora_files("sd3_lora")).warnings)
    assert any("XLabs" in w for w in inspect_file(lora_files("flux_xlabs")).warnings)
