"""Our classification against the real ComfyUI key map and the real Inspire grouping.

For every architecture: the LoRA keys ComfyUI does not map must be exactly the ones we predict
(none, for all but the real-world formats ComfyUI is known to refuse), and our `blocks` must be
exactly the positions Inspire's "LoRA Loader (Block Weight)" uses.
"""

from __future__ import annotations

import pytest

from lora_atlas.engine.comfy_keymap import LLM_TEXT_ENCODER, unmapped_by_comfyui
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.engine.layout import build_layout
from lora_atlas.engine.safetensors_header import read_header
from lora_atlas.demo.model_layers import flux_layers
from lora_atlas.demo.synthetic_loras import Fixture, Part, write_fixture

pytestmark = pytest.mark.integration

BY_ARCH = {
    "sd1": ["sd1_lora", "sd1_nometa", "sd1_locon", "sd1_locon_tucker", "sd1_loha", "sd1_lokr", "sd1_glora",
            "sd1_oft", "sd1_boft", "sd1_attn_processor"],
    "sd2": ["sd2_lora"],
    "sdxl": ["sdxl_lora", "sdxl_locon", "sdxl_partial", "sdxl_loha", "sdxl_dora", "sdxl_peft", "sdxl_full_diff"],
    "flux": ["flux_lora", "flux_single", "flux_double", "flux_partial", "flux_peft", "flux_onetrainer", "flux_lokr", "flux_xlabs"],
    "chroma": ["chroma_lora", "chroma_nometa"],
    "hunyuan_video": ["hunyuan_video"],
    "sd3": ["sd3_lora"],
    "wan": ["wan_lora"],
    "wan13": ["wan_1_3b"],
    "qwen_image": ["qwen_image", "qwen_image_edit"],
    # ComfyUI 0.33.0 classes (skipped, with the reason, on a ComfyUI that lacks them)
    # Flux.2 in diffusers names (flux_to_diffusers), an attention-only Klein 4B file (read as flux:
    # the same keys load), kohya text-encoder keys in the LLM's names and in CLIP's (not mapped)
    "flux2": ["flux2_dev", "flux2_dev_peft"],
    "flux2_klein4b": ["flux2_klein4b", "flux2_klein4b_peft", "flux2_klein4b_attn", "flux2_klein4b_attn_te", "flux2_klein4b_clip_te"],
    "flux2_klein9b": ["flux2_klein9b", "flux2_klein9b_kohya"],
    "chroma_radiance": ["chroma_radiance"],
    "z_image": ["z_image", "z_image_clip_te"],
    "lumina2": ["lumina2"],
    "wan22_5b": ["wan22_5b"],
    "hunyuan_video15": ["hunyuan_video15", "hunyuan_video15_te"],
    "ltx2": ["ltx2"],
    "kandinsky5": ["kandinsky5"],
    "krea2": ["krea2"],
    "anima": ["anima", "anima_peft"],
    "hunyuan_image": ["hunyuan_image", "hunyuan_image_tencent"],
    "ernie_image": ["ernie_image", "ernie_image_kohya"],
    "omnigen2": ["omnigen2", "omnigen2_peft"],
}
# The 14B experts of WAN 2.2 are WAN 2.1 14B's class and shapes.
BY_ARCH["wan"] = BY_ARCH["wan"] + ["wan22_high", "wan22_low"]


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_keys_map_and_positions_match_inspire(comfy_env, oracle, tmp_path, arch):
    paths = {name: write_fixture(name, str(tmp_path / f"{name}.safetensors"), rank=2, sparse=True) for name in BY_ARCH[arch]}
    report = oracle(arch, list(paths.values()))
    if "missing_model_class" in report:
        pytest.skip(report["missing_model_class"])
    legacy = report["comfyui_version"].startswith("0.3.")
    for name, path in paths.items():
        ours = inspect_file(path)
        theirs = report["files"][path]
        assert ours.ok, (name, ours.error)
        layout = build_layout(read_header(path).tensors)
        predicted = sorted(k for m in unmapped_by_comfyui(layout, ours.architecture) for k in m.roles.values())
        encoders = sorted(ours.text_encoder)
        if legacy and ours.architecture in LLM_TEXT_ENCODER:
            # ComfyUI 0.3.x maps no kohya name for an LLM text encoder (0.33.0 maps its layer names,
            # which LoRA Atlas follows; README "Text encoders of the LLM families")
            kohya_te = [m for m in layout.te if m.name.scheme == "kohya"]
            predicted = sorted(predicted + [k for m in kohya_te for k in m.roles.values()])
            encoders = [] if kohya_te and len(kohya_te) == len(layout.te) else encoders
        assert theirs["unmapped_keys"] == predicted, f"{name}: ComfyUI does not map {theirs['unmapped_keys'][:5]}"
        assert theirs["lora_keys"] > 0
        # the text encoders we name are the ones ComfyUI patches (its clip_l/t5xxl/qwen3_4b/... prefixes)
        assert encoders == sorted({k.split(".")[0] for k in theirs["patched_clip_keys"]}), name
        if comfy_env["inspire"]:
            assert ours.blocks == theirs["inspire_positions"], name


def _predicted_unmapped(path, architecture):
    return sorted(k for m in unmapped_by_comfyui(build_layout(read_header(path).tensors), architecture) for k in m.roles.values())


def test_bias_and_norm_diffs_load_as_comfyui_maps_them(comfy_env, oracle, tmp_path):
    """ComfyUI's generic key map takes every `diffusion_model.` parameter by its full name (a
    `.weight` without the suffix), and load_lora reads a module's `diff_b` beside its LoRA: the
    LoRA its own extraction writes for Flux loads every key, one patch per entry we count in
    `adapters`. RMSNorm diffs depend on the version: 0.33 loads Flux's norms as `<norm>.weight`
    (what we predict), 0.3.64 as `<norm>.scale`; kohya names of a `scale` never load."""
    extract = write_fixture("flux_comfy_extract", str(tmp_path / "extract.safetensors"), rank=2, sparse=True)
    scale = write_fixture(Fixture("LoRAs with norm `scale` diffs", [Part(flux_layers(doubles=(0,), singles=()), "kohya_unet")],
                                  extra=[("lora_unet_double_blocks_0_img_attn_norm_query_norm_scale.diff", (128,)),
                                         ("diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale.diff", (128,))]),
                          str(tmp_path / "scale.safetensors"), rank=2, sparse=True)
    report = oracle("flux", [extract, scale], inspire=False)
    modern = not report["comfyui_version"].startswith("0.3.")
    ours, theirs = inspect_file(extract), report["files"][extract]
    assert ours.ok and ours.adapter == "lora" and _predicted_unmapped(extract, "flux") == []
    norms = sorted(k for k in read_header(extract).tensors if k.endswith("_norm.diff"))
    assert len(norms) == ours.adapters["norm"] == 4 * 19 + 2 * 38
    if modern:
        assert theirs["unmapped_keys"] == []
        assert sum(ours.adapters.values()) == theirs["patch_keys"] == len(theirs["patched_model_keys"])
        assert sum(k.endswith("_norm.weight") for k in theirs["patched_model_keys"]) == ours.adapters["norm"]
    else:
        assert theirs["unmapped_keys"] == norms
    assert sum(k.endswith(".bias") for k in theirs["patched_model_keys"]) == ours.adapters["bias"] == 3 + 19 * 10 + 38 * 3

    s_ours, s_theirs = inspect_file(scale), report["files"][scale]
    predicted = _predicted_unmapped(scale, s_ours.architecture)
    assert predicted == ["diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale.diff",
                         "lora_unet_double_blocks_0_img_attn_norm_query_norm_scale.diff"]
    assert s_theirs["unmapped_keys"] == (predicted if modern else predicted[1:])
    assert any("would not load" in w for w in s_ours.warnings) and any("RMSNorm `.scale`" in w for w in s_ours.warnings)
