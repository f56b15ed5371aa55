"""Small but realistic LoRA files: real key names, real layer shapes, tiny rank.

The project's own fixture builder, used by the tests, the benchmarks and `lora-atlas demo`.
Each architecture lists its adaptable layers (demo.model_layers); a naming scheme turns a path into
the prefix a trainer writes and an adapter turns one layer into its tensors (demo.adapter_tensors).
`FIXTURES` names the combinations found in the wild; `write_fixture` and `write_tensors` write them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import numpy as np

from . import safetensors_writer
from .adapter_tensors import ADAPTERS, NAMING, xlabs_tensors
from .model_layers import (anima_layers, chroma_radiance_layers, clip_layers, ernie_image_layers, flux2_diffusers_layers,
                           flux2_layers, flux_diffusers_layers, flux_layers, hunyuan_video15_layers, hunyuan_video_layers,
                           kandinsky5_layers, krea2_layers, ltx2_layers, lumina2_layers, llm_te_layers, omnigen2_layers,
                           qwen_image_layers, sd3_layers, sd_unet_layers,
                           sdxl_diffusers_layers, sdxl_unet_layers, t5_layers, wan_layers, z_image_layers)


@dataclass
class Part:
    """A set of layers written with one naming scheme and one adapter."""

    layers: list
    naming: str
    adapter: str = "lora"
    options: dict = field(default_factory=dict)


@dataclass
class Fixture:
    description: str
    parts: list
    metadata: dict = field(default_factory=dict)
    rank: int = 2
    alpha: float | None = 1.0
    dora: bool = False
    extra: list = field(default_factory=list)   # (name, shape) tensors outside any adapter


def _sd1_te():
    return clip_layers(12, 768)


def _thumbnail_png() -> str:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _tags(tags: dict) -> str:
    return json.dumps({"10_dataset": tags}, sort_keys=True)


def flux_extract(doubles=range(19), singles=range(38)) -> Fixture:
    """What ComfyUI 0.33's "Extract and Save Lora" (comfy_extras/nodes_lora_extract.py) writes for a
    Flux model diff: `diffusion_model.<path>.lora_up/lora_down.weight` for every matrix, no alpha,
    `.diff_b` for every bias and `.diff` for every 1-D weight: the RMSNorms, which ComfyUI 0.33
    loads as `<norm>.weight` (0.3.x named them `<norm>.scale`)."""
    base = [("img_in", 3072, 64, 1), ("final_layer.linear", 64, 3072, 1), ("final_layer.adaLN_modulation.1", 6144, 3072, 1)]
    layers = base + flux_layers(doubles, singles)
    extra = [(f"diffusion_model.{path}.diff_b", (out,)) for path, out, _, _ in layers]
    norms = [f"double_blocks.{n}.{s}_attn.norm" for n in doubles for s in ("img", "txt")]
    norms += [f"single_blocks.{n}.norm" for n in singles]
    extra += [(f"diffusion_model.{p}.{q}.diff", (128,)) for p in norms for q in ("query_norm", "key_norm")]
    return Fixture("Flux LoRA extracted and saved by ComfyUI 0.33, with bias and RMSNorm diffs",
                   [Part(layers, "comfy")], alpha=None, extra=extra)


_SDXL_TE = [Part(clip_layers(12, 768), "kohya_te1"), Part(clip_layers(32, 1280), "kohya_te2")]

FIXTURES: dict = {
    "sd1_lora": Fixture("SD1.5 kohya LoRA, attention + CLIP", [Part(sd_unet_layers("sd1", False), "kohya_unet"), Part(_sd1_te(), "kohya_te")],
                        {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora", "ss_network_dim": "2", "ss_network_alpha": "1",
                         "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors", "ss_output_name": "watercolor_style",
                         "ss_tag_frequency": _tags({"watercolor": 40, "painting": 31, "1girl": 12})}),
    "sd1_locon": Fixture("SD1.5 kohya LoCon (conv layers)", [Part(sd_unet_layers("sd1", True), "kohya_unet")],
                         {"ss_network_module": "networks.lora", "ss_network_args": '{"conv_dim": "2"}'}),
    "sd1_locon_tucker": Fixture("SD1.5 LyCORIS LoCon with Tucker cores", [Part(sd_unet_layers("sd1", True), "kohya_unet", options={"tucker": True})],
                                {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "locon", "use_tucker": "True"}'}),
    "sd1_nometa": Fixture("SD1.5 LoRA, no metadata (attention only)", [Part(sd_unet_layers("sd1", False), "kohya_unet")]),
    "sd1_loha": Fixture("SD1.5 LyCORIS LoHa with conv", [Part(sd_unet_layers("sd1", True), "kohya_unet", "loha")],
                        {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'}),
    "sd1_lokr": Fixture("SD1.5 LyCORIS LoKr", [Part(sd_unet_layers("sd1", False), "kohya_unet", "lokr")],
                        {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lokr"}'}),
    "sd1_glora": Fixture("SD1.5 LyCORIS GLoRA", [Part(sd_unet_layers("sd1", False), "kohya_unet", "glora")]),
    "sd1_oft": Fixture("SD1.5 LyCORIS diag-OFT", [Part(sd_unet_layers("sd1", False), "kohya_unet", "oft")]),
    "sd1_boft": Fixture("SD1.5 LyCORIS BOFT", [Part(sd_unet_layers("sd1", False), "kohya_unet", "boft")]),
    "sd1_attn_processor": Fixture("SD1.5 old diffusers attention-processor LoRA",
                                  [Part([l for l in sd_unet_layers("sd1", False) if ".attn" in l[0]], "diffusers_unet", options={"processor": True})],
                                  alpha=None),
    "sd2_lora": Fixture("SD2.x kohya LoRA with OpenCLIP-H", [Part(sd_unet_layers("sd2", False), "kohya_unet"), Part(clip_layers(23, 1024), "kohya_te")],
                        {"ss_base_model_version": "sd_v2", "ss_v2": "True"}),
    "sdxl_lora": Fixture("SDXL kohya LoRA, UNet + both CLIPs", [Part(sdxl_unet_layers(False), "kohya_unet")] + _SDXL_TE,
                         {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "networks.lora",
                          "ss_sd_model_name": "sd_xl_base_1.0.safetensors", "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
                          "modelspec.title": "Ink Sketch", "modelspec.trigger_phrase": "inksketch, monochrome",
                          "modelspec.thumbnail": _thumbnail_png()}),
    "sdxl_locon": Fixture("SDXL kohya LoCon", [Part(sdxl_unet_layers(True), "kohya_unet")],
                          {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_args": '{"conv_dim": "2", "conv_alpha": "1"}'}),
    "sdxl_pony": Fixture("Pony character LoRA (SDXL, UNet only)", [Part(sdxl_unet_layers(False), "kohya_unet")],
                         {"ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "ponyDiffusionV6XL_v6StartWithThisOne.safetensors",
                          "ss_tag_frequency": _tags({"score_9": 50, "score_8_up": 50, "mychar": 50, "red hair": 22})}),
    "sdxl_illustrious": Fixture("Illustrious style LoRA (SDXL)", [Part(sdxl_unet_layers(False), "kohya_unet")],
                                {"modelspec.architecture": "stable-diffusion-xl-v1-base/lora", "modelspec.title": "Pastel (Illustrious-XL)"}),
    "sdxl_pony_tags": Fixture("SDXL LoRA whose only Pony signal is its tags", [Part(sdxl_unet_layers(False), "kohya_unet")],
                              {"ss_tag_frequency": _tags({"score_9": 10, "score_8_up": 10, "solo": 5})}),
    "sdxl_partial": Fixture("SDXL LoRA trained on some blocks only", [Part(sdxl_unet_layers(False, {("IN", 8), ("MID", 1), ("OUT", 1)}), "kohya_unet")]),
    "sdxl_loha": Fixture("SDXL LyCORIS LoHa", [Part(sdxl_unet_layers(False), "kohya_unet", "loha")]),
    "sdxl_dora": Fixture("SDXL DoRA (kohya/LyCORIS dora_wd)", [Part(sdxl_unet_layers(False), "kohya_unet")], dora=True),
    "sdxl_peft": Fixture("SDXL diffusers/PEFT LoRA", [Part(sdxl_diffusers_layers(), "diffusers_unet", options={"suffix": "peft"}),
                                                     Part(clip_layers(12, 768), "text_encoder", options={"suffix": "peft"}),
                                                     Part(clip_layers(32, 1280), "text_encoder_2", options={"suffix": "peft"})], alpha=None),
    "sdxl_full_diff": Fixture("SDXL full diff (ComfyUI LoRA save)", [Part(sdxl_unet_layers(False, {("IN", 4), ("OUT", 3)}), "comfy", "full")], alpha=None),
    "flux_lora": Fixture("Flux kohya LoRA with CLIP-L and T5", [Part(flux_layers(), "kohya_unet"), Part(clip_layers(12, 768), "kohya_te1"), Part(t5_layers(), "kohya_te3")],
                         {"ss_base_model_version": "flux1", "ss_network_module": "networks.lora_flux", "modelspec.architecture": "flux-1-dev/lora"}),
    "flux_single": Fixture("Flux kohya single-blocks-only LoRA", [Part(flux_layers(doubles=()), "kohya_unet")], {"ss_network_module": "networks.lora_flux"}),
    "flux_double": Fixture("Flux double-blocks-only LoRA", [Part(flux_layers(singles=()), "kohya_unet")]),
    "flux_partial": Fixture("Flux LoRA on a few blocks", [Part(flux_layers(doubles=(7, 8, 9), singles=(9, 20)), "comfy", options={"suffix": "peft"})], alpha=None),
    "flux_peft": Fixture("Flux diffusers/PEFT LoRA (ai-toolkit)", [Part(flux_diffusers_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "flux_onetrainer": Fixture("Flux OneTrainer LoRA with T5 as lora_te2_", [Part(flux_diffusers_layers(), "onetrainer"), Part(t5_layers(4), "kohya_te2")]),
    "flux_lokr": Fixture("Flux SimpleTuner LyCORIS LoKr", [Part(flux_diffusers_layers(doubles=range(19), singles=range(38)), "lycoris", "lokr")]),
    "flux_xlabs": Fixture("Flux XLabs processor LoRA", [Part([], "bare", options={"xlabs": True})], alpha=None),
    "chroma_lora": Fixture("Chroma LoRA (Flux layout without modulation)", [Part(flux_layers(modulation=False), "comfy", options={"suffix": "peft"})],
                           {"modelspec.architecture": "chroma/lora", "ss_base_model_version": "chroma"}, alpha=None),
    "hunyuan_video": Fixture("HunyuanVideo diffusion-pipe LoRA", [Part(hunyuan_video_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "sd3_lora": Fixture("SD3 medium kohya LoRA", [Part(sd3_layers(), "kohya_unet")], {"ss_base_model_version": "medium"}),
    "sd3_peft": Fixture("SD3.5 large diffusers LoRA", [Part([(p.replace("joint_blocks", "transformer_blocks").replace("x_block.attn.qkv", "attn.to_q"), o // 3 if "qkv" in p else o, i, k)
                                                           for p, o, i, k in sd3_layers(38, 2432) if "x_block.attn.qkv" in p], "transformer", options={"suffix": "peft"})], alpha=None),
    "wan_lora": Fixture("WAN 2.1 14B musubi LoRA", [Part(wan_layers(), "kohya_unet")], {"ss_network_module": "networks.lora_wan", "ss_base_model_version": "wan"}),
    "wan_1_3b": Fixture("WAN 2.1 1.3B LoRA in ComfyUI names", [Part(wan_layers(1536, 8960, 30), "comfy", options={"suffix": "peft"})], alpha=None),
    "flux_comfy_extract": flux_extract(),
    "qwen_image": Fixture("Qwen-Image LoRA", [Part(qwen_image_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
}

# Families ComfyUI 0.33.0 loads (tests/integration/test_comfyui_keymap.py checks each on its class).
FIXTURES.update({
    "flux2_dev": Fixture("Flux.2 dev LoRA (ai-toolkit, ComfyUI names)", [Part(flux2_layers(), "comfy", options={"suffix": "peft"})], alpha=None),
    "flux2_klein4b": Fixture("Flux.2 Klein 4B kohya LoRA with Qwen3 text encoder in ComfyUI names, no metadata",
                             [Part(flux2_layers(3072, 5, 20, False), "kohya_unet"), Part(llm_te_layers(), "comfy_qwen3_4b")]),
    "flux2_klein9b": Fixture("Flux.2 Klein 9B LoRA", [Part(flux2_layers(4096, 8, 24), "comfy")],
                             {"modelspec.architecture": "flux-2-klein-9b/lora"}),
    "flux2_klein4b_peft": Fixture("Flux.2 Klein 4B diffusers/PEFT LoRA (ai-toolkit names)",
                                  [Part(flux2_diffusers_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "flux2_dev_peft": Fixture("Flux.2 dev diffusers/PEFT LoRA, double blocks and the shared modulation (diffusers names, not loaded)",
                              [Part(flux2_diffusers_layers(6144, 8, 0, True), "transformer", options={"suffix": "peft"})], alpha=None),
    "flux2_klein9b_kohya": Fixture("Flux.2 Klein 9B kohya LoRA with its Qwen3-8B text encoder as lora_te_",
                                   [Part(flux2_layers(4096, 8, 24, False), "kohya_unet"), Part(llm_te_layers(4, 4096, 4096, 1024), "kohya_te")]),
    "flux2_klein4b_clip_te": Fixture("Flux.2 Klein 4B kohya LoRA carrying CLIP-named lora_te_ modules (Flux.2 has no CLIP)",
                                     [Part(flux2_layers(3072, 5, 20, False), "kohya_unet"), Part(clip_layers(2, 768), "kohya_te")]),
    # Files the tensors cannot tell from Flux.1 (inspection keeps `flux` and says so)
    "flux2_klein4b_attn": Fixture("Flux.2 Klein 4B LoRA on double-block attention only, no metadata",
                                  [Part([l for l in flux2_layers(3072, 5, 0, False) if "_attn." in l[0]], "comfy", options={"suffix": "peft"})],
                                  alpha=None),
    "flux2_klein4b_attn_te": Fixture("Flux.2 Klein 4B LoRA on double-block attention only with its Qwen3-4B text encoder as lora_te_",
                                     [Part([l for l in flux2_layers(3072, 5, 0, False) if "_attn." in l[0]], "kohya_unet"),
                                      Part(llm_te_layers(), "kohya_te")]),
    "z_image_clip_te": Fixture("Z-Image LoRA carrying CLIP-named lora_te_ modules (its encoder is Qwen3-4B: not loaded)",
                               [Part(z_image_layers(), "comfy", options={"suffix": "peft"}), Part(clip_layers(1, 768), "kohya_te")]),
    "hunyuan_video15_te": Fixture("HunyuanVideo 1.5 kohya LoRA with lora_te_ Qwen2.5 layers (ComfyUI maps none for it)",
                                  [Part(hunyuan_video15_layers(), "kohya_unet"), Part(llm_te_layers(2, 3584, 3584, 512), "kohya_te")]),
    "chroma_nometa": Fixture("Chroma LoRA without metadata or distilled_guidance_layer keys",
                             [Part(flux_layers(modulation=False), "comfy", options={"suffix": "peft"})], alpha=None),
    "chroma_radiance": Fixture("Chroma Radiance LoRA with NeRF head layers", [Part(chroma_radiance_layers(), "comfy", options={"suffix": "peft"})], alpha=None),
    "z_image": Fixture("Z-Image LoRA (diffusers names) with Qwen3 text encoder", [Part(z_image_layers(), "comfy", options={"suffix": "peft"}),
                                                                                 Part(llm_te_layers(), "kohya_te")]),
    "lumina2": Fixture("Lumina Image 2.0 LoRA (ComfyUI names)", [Part(lumina2_layers(), "comfy")]),
    "wan22_5b": Fixture("WAN 2.2 TI2V 5B LoRA", [Part(wan_layers(3072, 14336, 30), "comfy", options={"suffix": "peft"})], alpha=None),
    "wan22_high": Fixture("WAN 2.2 A14B high-noise expert musubi LoRA", [Part(wan_layers(), "kohya_unet")],
                          {"ss_network_module": "networks.lora_wan", "modelspec.architecture": "wan2.2-t2v-a14b/lora",
                           "ss_sd_model_name": "wan2.2_t2v_high_noise_14B_fp16.safetensors"}),
    "wan22_low": Fixture("WAN 2.2 A14B low-noise expert musubi LoRA", [Part(wan_layers(), "kohya_unet")],
                         {"ss_network_module": "networks.lora_wan", "modelspec.architecture": "wan2.2-t2v-a14b/lora",
                          "ss_sd_model_name": "wan2.2_t2v_low_noise_14B_fp16.safetensors"}),
    "hunyuan_video15": Fixture("HunyuanVideo 1.5 kohya LoRA", [Part(hunyuan_video15_layers(), "kohya_unet")]),
    "ltx2": Fixture("LTX-2 audio-video LoRA (ComfyUI names)", [Part(ltx2_layers(), "comfy")]),
    "qwen_image_edit": Fixture("Qwen-Image-Edit kohya LoRA with Qwen2.5-VL text encoder in ComfyUI names",
                               [Part(qwen_image_layers(), "kohya_unet"), Part(llm_te_layers(4, 3584, 3584, 512), "comfy_qwen25_7b")],
                               {"modelspec.architecture": "qwen-image-edit/lora"}),
    "kandinsky5": Fixture("Kandinsky 5 video lite LoRA", [Part(kandinsky5_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "krea2": Fixture("Krea 2 LoRA (diffusers names)", [Part(krea2_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    # Anima: sd-scripts (kohya names, with its Qwen3 0.6B text encoder) and diffusion-pipe (ComfyUI names, PEFT)
    "anima": Fixture("Anima kohya LoRA with Qwen3 0.6B text encoder", [Part(anima_layers(), "kohya_unet"),
                                                                      Part(llm_te_layers(4, 1024, 2048, 1024), "kohya_te")]),
    # HunyuanImage 2.1 (HunyuanVideo's blocks at width 3584): musubi-tuner's kohya names, and
    # diffusion-pipe's Tencent names, which ComfyUI maps for its HunyuanVideo class only
    "hunyuan_image": Fixture("HunyuanImage 2.1 kohya LoRA", [Part(hunyuan_video_layers(3584, tencent=False), "kohya_unet")]),
    "hunyuan_image_tencent": Fixture("HunyuanImage 2.1 diffusion-pipe LoRA (Tencent names)",
                                     [Part(hunyuan_video_layers(3584), "transformer", options={"suffix": "peft"})], alpha=None),
    # Ernie-Image: diffusers names (`transformer.`), and kohya names with its Ministral 3 3B text encoder
    "ernie_image": Fixture("Ernie-Image LoRA (diffusers names)", [Part(ernie_image_layers(), "transformer", options={"suffix": "peft"})],
                           alpha=None),
    "ernie_image_kohya": Fixture("Ernie-Image kohya LoRA with Ministral 3 3B text encoder",
                                 [Part(ernie_image_layers(), "kohya_unet"), Part(llm_te_layers(4, 3072, 4096, 1024), "kohya_te")]),
    # OmniGen2: kohya names with its Qwen2.5-VL 3B text encoder; diffusers names (`transformer.`)
    "omnigen2": Fixture("OmniGen2 kohya LoRA with Qwen2.5-VL 3B text encoder",
                        [Part(omnigen2_layers(), "kohya_unet"), Part(llm_te_layers(4, 2048, 2048, 256), "kohya_te")]),
    "omnigen2_peft": Fixture("OmniGen2 LoRA (diffusers names)", [Part(omnigen2_layers(), "transformer", options={"suffix": "peft"})],
                             alpha=None),
    "anima_peft": Fixture("Anima diffusion-pipe LoRA (ComfyUI names) with adaLN modulations",
                          [Part(anima_layers(modulation=True), "comfy", options={"suffix": "peft"})], alpha=None),
})


# Non-LoRA files that end up in LoRA folders.
def checkpoint_tensors():
    """A few hundred tensors named like an SD1.5 full checkpoint (shapes shrunk: only names matter)."""
    out = []
    for path, o, i, k in sd_unet_layers("sd1", True):
        out.append((f"model.diffusion_model.{path}.weight", (4, 4)))
        out.append((f"model.diffusion_model.{path}.bias", (4,)))
    out += [("first_stage_model.decoder.conv_in.weight", (4, 4)), ("cond_stage_model.transformer.text_model.final_layer_norm.weight", (4,))]
    return out


def embedding_tensors():
    return [("clip_l", (4, 768)), ("clip_g", (4, 1280))]


def fixture_tensors(fixture: Fixture, rank: int | None = None):
    """(name, shape-or-("scalar", v)) for every tensor of a fixture."""
    rank = rank or fixture.rank
    tensors = []
    for part in fixture.parts:
        naming = NAMING[part.naming]
        options = dict(part.options)
        if options.pop("xlabs", False):
            tensors += xlabs_tensors(rank)
            continue
        processor = options.pop("processor", False)
        suffix = options.pop("suffix", None)
        for path, out, inp, k in part.layers:
            if processor:
                path = path.replace(".attn1.", ".attn1.processor.").replace(".attn2.", ".attn2.processor.").replace("to_out.0", "to_out")
                module = naming(path)
                tensors += [(f"{module}_lora.down.weight", (rank, inp)), (f"{module}_lora.up.weight", (out, rank))]
                continue
            module = naming(path)
            if part.adapter == "lora":
                kw = dict(options)
                if suffix:
                    kw["suffix"] = suffix
                tensors += ADAPTERS["lora"](module, out, inp, k, rank, fixture.alpha, **kw)
            else:
                tensors += ADAPTERS[part.adapter](module, out, inp, k, rank, fixture.alpha if fixture.alpha is not None else 1.0, **options)
            if fixture.dora:
                tensors.append((f"{module}.dora_scale", (out, 1)))
    tensors += fixture.extra
    return tensors


def write_fixture(name_or_fixture, path: str, *, rank: int | None = None, dtype: str = "F16", sparse: bool = False,
                  seed: int = 0, metadata: dict | None = None) -> str:
    """Write one fixture to `path`. Weights are small random values (seeded); with `sparse` only
    the header and the alpha scalars are written and the weights are holes."""
    fixture = FIXTURES[name_or_fixture] if isinstance(name_or_fixture, str) else name_or_fixture
    rng = np.random.default_rng(seed)
    entries = []
    for name, shape in fixture_tensors(fixture, rank):
        if isinstance(shape, tuple) and shape and shape[0] == "scalar":
            entries.append((name, dtype, (), np.array(shape[1], dtype=np.float32)))
        elif sparse:
            entries.append((name, dtype, shape, None))
        else:
            entries.append((name, dtype, shape, (rng.standard_normal(shape, dtype=np.float32) * 0.02)))
    meta = dict(fixture.metadata)
    meta.update(metadata or {})
    safetensors_writer.write(path, entries, meta, sparse=sparse)
    return path


def write_tensors(path: str, tensors, metadata=None, dtype="F16", sparse=True):
    """Write arbitrary (name, shape) tensors: the non-LoRA files of the demo and the tests."""
    safetensors_writer.write(path, [(n, dtype, s, None) for n, s in tensors], metadata, sparse=sparse)
    return path
