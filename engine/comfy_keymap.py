"""Where ComfyUI's LoRA loader is known to refuse module names that look valid.

ComfyUI maps a LoRA key only if its key map (built from the model, `comfy/lora.py`) has the
module's prefix; `lora_convert` rewrites a few layouts first. Checked against the real loader
(tests/integration): these are the cases our fixtures of real-world formats hit. A module listed
here "would not load" (ComfyUI logs `lora key not loaded`) and takes no Inspire position.
"""

from __future__ import annotations

from .dit_families import FLUX2_GLOBAL_MOD, tencent_spelling
from .taxonomy import UNET_FAMILY

# A parameter that is not a `.weight` (an RMSNorm `scale`) is mapped only by its full
# `diffusion_model.` name, so `lora_unet_..._scale.diff` never loads. ComfyUI 0.33 also loads the
# RMSNorms of these families (all on Flux's QKNorm layers in 0.33.0) as `<norm>.weight` (0.3.x kept
# `<norm>.scale`): a `.scale` diff no longer loads there, a `<norm>.diff` (what its own LoRA
# extraction writes) does.
_NON_WEIGHT = ("_scale", ".scale")
RMSNORM_AS_WEIGHT = frozenset(
    {"flux", "flux2", "chroma", "chroma_radiance", "hunyuan_video", "hunyuan_video15", "hunyuan_image"})
_ATTN_PROJ = ("_to_q", "_to_k", "_to_v", "_to_out_0", "_to_out")
# Families whose key map has no `transformer.` (diffusers/PEFT) names.
_GENERIC_NAMES_ONLY = frozenset({"wan", "hunyuan_image", "omnigen2"})


# Families whose one text encoder is a decoder LLM (ComfyUI names its weights
# `<llm>.transformer.model.<path>`): `model_lora_keys_clip` maps kohya `lora_te_<path>` for it, and
# no CLIP or T5 name (`lora_te_text_model_...`, `lora_te1_`, `text_encoder.`) at all. Families with
# an LLM beside another encoder get no kohya text-encoder names: only ComfyUI's `text_encoders.`.
LLM_TEXT_ENCODER = frozenset({"flux2", "z_image", "lumina2", "qwen_image", "krea2", "anima", "ernie_image",
                              "omnigen2"})
NO_KOHYA_TEXT_ENCODER = frozenset({"hunyuan_video15", "ltx2", "hunyuan_image"})
_LLM_PATHS = ("layers_", "embed_tokens", "norm")


def _te_unmapped(name, architecture: str) -> bool:
    """Whether a text-encoder module of an LLM-encoder family has a name ComfyUI does not map."""
    if name.scheme == "comfy":
        return False  # `text_encoders.<encoder>.…`: ComfyUI's own names
    if architecture in NO_KOHYA_TEXT_ENCODER:
        return True
    return name.slot != "te" or name.scheme != "kohya" or not name.flat.startswith(_LLM_PATHS)


def _xlabs(m) -> bool:
    return ".processor.qkv_lora" in m.name.raw or ".processor.proj_lora" in m.name.raw


def xlabs_converted(layout) -> bool:
    """ComfyUI converts XLabs processor names only when the last double and single blocks are there."""
    raws = {m.name.raw for m in layout.modules}
    return "double_blocks.18.processor.qkv_lora2" in raws and "single_blocks.37.processor.qkv_lora" in raws


def unmapped_by_comfyui(layout, architecture: str) -> list:
    """Modules of `layout` that ComfyUI's loader would not map for `architecture`."""
    out = []
    converted = None
    for m in layout.modules:
        name = m.name
        if name.component != "unet":
            if (architecture in LLM_TEXT_ENCODER or architecture in NO_KOHYA_TEXT_ENCODER) and _te_unmapped(name, architecture):
                out.append(m)
            continue
        if _xlabs(m):
            if converted is None:
                converted = xlabs_converted(layout)
            if not converted:
                out.append(m)
        elif architecture in UNET_FAMILY and name.scheme in ("diffusers", "bare") and ".processor." not in name.raw \
                and name.flat.endswith(_ATTN_PROJ) and ("_attn1_" in name.flat or "_attn2_" in name.flat):
            # diffusers attention projections are mapped only in the attention-processor spelling
            out.append(m)
        elif architecture == "flux2" and name.scheme in ("diffusers", "lycoris", "onetrainer") \
                and name.flat.startswith(FLUX2_GLOBAL_MOD):
            out.append(m)  # flux_to_diffusers has no name for Flux.2's shared modulation layers
        elif architecture in _GENERIC_NAMES_ONLY and name.scheme in ("diffusers", "peft"):
            out.append(m)  # these map only `diffusion_model.<path>`, `lora_unet_<path>` (OmniGen2: bare `<path>`)
        elif architecture == "hunyuan_image" and tencent_spelling(name):
            out.append(m)  # ... in ComfyUI's spelling of the layers (see dit_families.HUNYUAN_IMAGE_WIDTH)
        elif m.adapter in ("norm", "bias") and name.raw.endswith(_NON_WEIGHT) and \
                (name.scheme != "comfy" or architecture in RMSNORM_AS_WEIGHT):
            out.append(m)
    return out


def renamed_norm_note(unmapped, architecture: str) -> list:
    """Why `.scale` diffs of a Flux-family file are counted as not loading (see RMSNORM_AS_WEIGHT)."""
    n = sum(1 for m in unmapped if m.name.scheme == "comfy" and m.name.raw.endswith(".scale"))
    if not n or architecture not in RMSNORM_AS_WEIGHT:
        return []
    return [f"{n} RMSNorm `.scale` diff(s): ComfyUI 0.33 loads these norms as `.weight` (a `<norm>.diff`) and skips "
            "them; ComfyUI 0.3.x still applied them"]


def llm_encoder_note(unmapped, architecture: str) -> list:
    """Why text-encoder modules of an LLM-encoder family are counted as not loading (see LLM_TEXT_ENCODER)."""
    n = sum(1 for m in unmapped if m.name.component == "te")
    if n and architecture in NO_KOHYA_TEXT_ENCODER:
        return [f"{n} text-encoder module(s): ComfyUI maps {architecture}'s text-encoder keys only in its own names "
                "(`text_encoders.<encoder>.…`), not kohya's or diffusers'"]
    if n and architecture in LLM_TEXT_ENCODER:
        return [f"{n} text-encoder module(s) named for CLIP/T5: {architecture}'s text encoder is one LLM, and ComfyUI maps "
                "kohya text-encoder keys only in its layer names (`lora_te_layers_N_...`)"]
    return []


def dropped_by_inspire(layout) -> list:
    """Modules ComfyUI converts on load but Inspire's block-weight node never sees (it skips
    `lora_convert`): XLabs processor names."""
    return [m for m in layout.modules if _xlabs(m)]
