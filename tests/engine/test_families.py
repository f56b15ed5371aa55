"""The families ComfyUI 0.33.0 loads (issue 14 §1): inspect, analyze and plan each fixture, tell
apart the bases that share key names, and refuse or warn on stacks that mix them."""

from __future__ import annotations

import pytest

from lora_atlas.demo.safetensors_writer import write
from lora_atlas.demo.synthetic_loras import write_fixture
from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.architecture import ARCHITECTURES, from_metadata
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.engine.plan_stack import plan_files
from lora_atlas.engine.planner import PlanError
from lora_atlas.library.organize import incompatible_reason

FLUX_58 = ["BASE"] + [f"DOUBLE{i}" for i in range(19)] + [f"SINGLE{i}" for i in range(38)]


def _dit(doubles, singles):
    return ["BASE"] + [f"DOUBLE{i}" for i in range(doubles)] + [f"SINGLE{i}" for i in range(singles)]


# fixture -> (architecture, variant, text encoders, Inspire positions)
EXPECTED = {
    "flux2_dev": ("flux2", "dev", [], _dit(8, 48)),
    "flux2_klein4b": ("flux2", "klein-4b", ["qwen3_4b"], _dit(5, 20)),
    "flux2_klein9b": ("flux2", "klein-9b", [], _dit(8, 24)),
    "flux2_klein4b_peft": ("flux2", "klein-4b", [], _dit(5, 20)),
    "flux2_klein9b_kohya": ("flux2", "klein-9b", ["qwen3_8b"], _dit(8, 24)),
    "chroma_radiance": ("chroma_radiance", None, [], FLUX_58),
    "z_image": ("z_image", None, ["qwen3_4b"], ["BASE"]),
    "lumina2": ("lumina2", None, [], ["BASE"]),
    "wan22_5b": ("wan", "2.2-5B", [], ["BASE"]),
    "wan22_high": ("wan", "2.2, 14B, high-noise", [], ["BASE"]),
    "wan22_low": ("wan", "2.2, 14B, low-noise", [], ["BASE"]),
    "hunyuan_video15": ("hunyuan_video15", None, [], _dit(54, 0)),
    "ltx2": ("ltx2", None, [], ["BASE"]),
    "qwen_image_edit": ("qwen_image", "edit", ["qwen25_7b"], ["BASE"]),
    "kandinsky5": ("kandinsky5", "lite", [], ["BASE"]),
    "krea2": ("krea2", None, [], ["BASE"]),
    "anima": ("anima", "2B", ["qwen3_06b"], ["BASE"]),
    "anima_peft": ("anima", "2B", [], ["BASE"]),
    "hunyuan_image": ("hunyuan_image", "full", [], _dit(20, 40)),
    "ernie_image": ("ernie_image", None, [], ["BASE"]),
    "ernie_image_kohya": ("ernie_image", None, ["ministral3_3b"], ["BASE"]),
    "omnigen2": ("omnigen2", None, ["qwen25_3b"], ["BASE"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_new_family_inspection(lora_files, name):
    arch, variant, encoders, blocks = EXPECTED[name]
    r = inspect_file(lora_files(name))
    assert r.ok, r.error
    assert (r.architecture, r.variant, r.adapter, r.text_encoder) == (arch, variant, "lora", encoders)
    assert r.blocks == blocks
    assert arch in ARCHITECTURES
    assert not any("does not map" in w for w in r.warnings), r.warnings
    inspire_note = any("no block layout" in w for w in r.warnings)
    assert inspire_note == (arch in ("z_image", "ltx2", "kandinsky5", "krea2", "anima", "ernie_image", "omnigen2"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_new_family_analysis_and_plan(tmp_path, name):
    """Real weights (rank 1): the analysis covers the inspected positions and a two-LoRA stack of
    the family plans, every position with a multiplier."""
    a = write_fixture(name, str(tmp_path / "a.safetensors"), rank=1, seed=1)
    b = write_fixture(name, str(tmp_path / "b.safetensors"), rank=1, seed=2)
    insp = inspect_file(a)
    result = analyze_file(a)
    assert result["ok"], result.get("error")
    assert result["architecture"] == insp.architecture
    assert [blk["name"] for blk in result["blocks"]] == insp.blocks
    assert result["unet_energy"] > 0
    assert (result["text_encoder_energy"] > 0) == bool(insp.text_encoder)
    plan = plan_files([(a, 1.0, None), (b, 1.0, None)])
    assert plan["architecture"] == insp.architecture
    assert [lo["positions"] for lo in plan["loras"]] == [insp.blocks, insp.blocks]
    assert not any("different" in w for w in plan["warnings"]), plan["warnings"]


def _pair(tmp_path, first, second, first_meta=None, second_meta=None):
    a = write_fixture(first, str(tmp_path / "first.safetensors"), rank=1, seed=1, metadata=first_meta)
    b = write_fixture(second, str(tmp_path / "second.safetensors"), rank=1, seed=2, metadata=second_meta)
    return [(a, 1.0, None), (b, 1.0, None)]


@pytest.mark.parametrize("first, second, first_meta, warning", [
    ("flux_double", "chroma_lora", None, "Flux.1-layout LoRAs trained on different bases (chroma, flux)"),
    ("chroma_lora", "chroma_radiance", None, "different bases (chroma, chroma_radiance)"),
    ("wan_lora", "wan22_high", {"modelspec.architecture": "wan2.1-t2v-14b/lora"}, "different generations (2.1, 2.2)"),
    ("wan22_high", "wan22_low", None, "different experts (high-noise, low-noise)"),
    ("qwen_image", "qwen_image_edit", None, "Qwen-Image and Qwen-Image-Edit LoRAs in one stack"),
])
def test_mixed_bases_warn(tmp_path, first, second, first_meta, warning):
    plan = plan_files(_pair(tmp_path, first, second, first_meta))
    assert any(warning in w for w in plan["warnings"]), plan["warnings"]


@pytest.mark.parametrize("first, second, problem", [
    ("flux_double", "flux2_klein4b", "second.safetensors is flux2, but the stack is flux"),
    ("flux2_dev", "flux2_klein9b", "Flux.2 LoRAs for different model sizes (dev, klein-9b)"),
    ("wan_lora", "wan22_5b", "WAN LoRAs for different model sizes (14B, 5B)"),
    ("z_image", "lumina2", "second.safetensors is lumina2, but the stack is z_image"),
    ("hunyuan_video", "hunyuan_video15", "second.safetensors is hunyuan_video15, but the stack is hunyuan_video"),
    ("hunyuan_video", "hunyuan_image", "second.safetensors is hunyuan_image, but the stack is hunyuan_video"),
    ("wan_lora", "anima", "second.safetensors is anima, but the stack is wan"),
    ("lumina2", "ernie_image", "second.safetensors is ernie_image, but the stack is lumina2"),
    ("z_image", "omnigen2", "second.safetensors is omnigen2, but the stack is z_image"),
])
def test_mixed_bases_refused(tmp_path, first, second, problem):
    with pytest.raises(PlanError) as err:
        plan_files(_pair(tmp_path, first, second))
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_same_base_stacks_say_nothing(tmp_path):
    plan = plan_files(_pair(tmp_path, "wan22_high", "wan22_high"))
    assert not any("different" in w for w in plan["warnings"]), plan["warnings"]


def test_metadata_names_what_shapes_cannot_tell(lora_files):
    """Chroma Radiance, LTX-2 and Qwen-Image-Edit share key names with their family root: the
    metadata names the member, the tensors still decide the family."""
    radiance = inspect_file(lora_files("chroma_lora", metadata=(("modelspec.architecture", "chroma-radiance/lora"),)))
    assert radiance.architecture == "chroma_radiance" and not radiance.warnings
    klein = inspect_file(lora_files("flux2_klein4b", metadata=(("modelspec.architecture", "flux-2-klein-4b/lora"),)))
    assert (klein.architecture, klein.variant) == ("flux2", "klein-4b")
    wrong = inspect_file(lora_files("flux_double", metadata=(("modelspec.architecture", "flux-2-dev/lora"),)))
    assert wrong.architecture == "flux" and any("metadata says flux2" in w for w in wrong.warnings)


def test_a_family_comfyui_does_not_load_stays_unknown(tmp_path):
    path = str(tmp_path / "other.safetensors")
    tensors = []
    for n in range(4):
        tensors += [(f"diffusion_model.fusion_stacks.{n}.mixer.lora_A.weight", "F16", (2, 64), None),
                    (f"diffusion_model.fusion_stacks.{n}.mixer.lora_B.weight", "F16", (64, 2), None)]
    write(path, tensors, {}, sparse=True)
    r = inspect_file(path)
    assert r.ok and r.architecture == "unknown"
    assert r.evidence and "no known block layout" in r.evidence[0] and "fusion" in r.evidence[0]
    row = {"ok": True, "inspection": r.to_dict()}
    assert incompatible_reason(row, None) == "unknown-architecture"


def test_quarantine_allow_lists_take_the_new_families(lora_files):
    row = {"ok": True, "inspection": inspect_file(lora_files("flux2_dev")).to_dict()}
    assert incompatible_reason(row, {"flux2"}) is None
    assert incompatible_reason(row, {"flux"}) == "not-allowed"


@pytest.mark.parametrize("meta, expected", [
    ({"modelspec.architecture": "flux-2-dev/lora"}, ("flux2", "dev")),
    ({"ss_base_model_version": "flux2_klein_4b"}, ("flux2", "klein-4b")),
    ({"modelspec.architecture": "chroma-radiance/lora"}, ("chroma_radiance", None)),
    ({"modelspec.architecture": "wan2.2-i2v-a14b/lora"}, ("wan", "2.2")),
    ({"ss_base_model_version": "wan_2.1_t2v_14b"}, ("wan", "2.1")),
    ({"modelspec.architecture": "hunyuan-video-1.5/lora"}, ("hunyuan_video15", None)),
    ({"ss_base_model_version": "qwen_image_edit_2509"}, ("qwen_image", "edit")),
    ({"ss_base_model_version": "z_image_turbo"}, ("z_image", None)),
    ({"modelspec.architecture": "ltx-2/lora"}, ("ltx2", None)),
    ({"ss_base_model_version": "kandinsky5_lite"}, ("kandinsky5", None)),
    ({"modelspec.architecture": "krea-2/lora"}, ("krea2", None)),
    ({"modelspec.architecture": "anima-preview/lora"}, ("anima", None)),
    ({"ss_base_model_version": "anima"}, ("anima", None)),
    ({"modelspec.architecture": "hunyuan-image-2.1/lora"}, ("hunyuan_image", None)),
    ({"modelspec.architecture": "ernie-image/lora"}, ("ernie_image", None)),
    ({"ss_base_model_version": "omnigen2"}, ("omnigen2", None)),
])
def test_metadata_names_the_new_families(meta, expected):
    arch, variant, evidence = from_metadata(meta)
    assert (arch, variant) == expected and evidence


def test_hunyuan_image_in_tencent_names_is_reported_as_not_loading(lora_files):
    """ComfyUI maps HunyuanImage 2.1 LoRAs by its generic names only: diffusion-pipe's Tencent
    spelling under `transformer.` (renamed for HunyuanVideo) loads nothing there."""
    r = inspect_file(lora_files("hunyuan_image_tencent"))
    assert (r.architecture, r.blocks) == ("hunyuan_image", ["BASE"])
    assert any(w.startswith("320 of 320 module(s) use names ComfyUI does not map") for w in r.warnings), r.warnings
    video = inspect_file(lora_files("hunyuan_video"))             # the same names load on HunyuanVideo
    assert video.architecture == "hunyuan_video" and len(video.blocks) == 61 and not video.warnings


def test_omnigen2_in_diffusers_names_is_reported_as_not_loading(lora_files):
    """ComfyUI maps OmniGen2 LoRAs by bare and generic names only: `transformer.layers...` loads nothing."""
    r = inspect_file(lora_files("omnigen2_peft"))
    assert (r.architecture, r.blocks) == ("omnigen2", ["BASE"])
    assert any(w.startswith("224 of 224 module(s) use names ComfyUI does not map") for w in r.warnings), r.warnings
