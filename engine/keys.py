"""LoRA tensor names -> (module, parameter), and module names -> one normalized form.

Every naming scheme found in the wild goes through here: kohya (`lora_unet_`, `lora_te_`,
`lora_te1_/2_/3_`), diffusers/PEFT (`lora_A/lora_B`, `.default`, `unet.`, `transformer.`,
`text_encoder(_2).`), the old attention-processor and `lora_linear_layer` names, ComfyUI/BFL
native `diffusion_model.` and `text_encoders.`, OneTrainer `lora_transformer_`, SimpleTuner
`lycoris_`, XLabs Flux processors and WAN/musubi names (spec/block-weights.md §4.1-4.4).

The normalized `flat` path has the naming prefix removed and every `.` turned into `_`, so
dotted and underscored spellings of one module compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass

# Parameter suffix -> role. Longest (most dotted parts) is tried first; see split_tensor_key.
_SUFFIX_3 = {
    "lora_linear_layer.up.weight": "up",
    "lora_linear_layer.down.weight": "down",
    "lora_B.default.weight": "up",
    "lora_A.default.weight": "down",
    "lora.up.weight": "up",
    "lora.down.weight": "down",
    "lora_magnitude_vector.default.weight": "magnitude",
}
_SUFFIX_2 = {
    "lora_up.weight": "up",
    "lora_down.weight": "down",
    "lora_mid.weight": "mid",
    "lora_B.weight": "up",
    "lora_A.weight": "down",
    "lora_B.bias": "up_bias",
    "up.weight": "up",        # old diffusers `<m>_lora.up.weight`, XLabs `qkv_lora1.up.weight`
    "down.weight": "down",
    "a1.weight": "a1",
    "a2.weight": "a2",
    "b1.weight": "b1",
    "b2.weight": "b2",
    "lora_magnitude_vector.weight": "magnitude",
}
_SUFFIX_1 = {
    "lora_B": "up",           # Mochi
    "lora_A": "down",
    "alpha": "alpha",
    "dora_scale": "dora_scale",
    "reshape_weight": "reshape_weight",
    "hada_w1_a": "hada_w1_a",
    "hada_w1_b": "hada_w1_b",
    "hada_w2_a": "hada_w2_a",
    "hada_w2_b": "hada_w2_b",
    "hada_t1": "hada_t1",
    "hada_t2": "hada_t2",
    "lokr_w1": "lokr_w1",
    "lokr_w1_a": "lokr_w1_a",
    "lokr_w1_b": "lokr_w1_b",
    "lokr_w2": "lokr_w2",
    "lokr_w2_a": "lokr_w2_a",
    "lokr_w2_b": "lokr_w2_b",
    "lokr_t2": "lokr_t2",
    "oft_blocks": "oft_blocks",
    "rescale": "rescale",
    "diff": "diff",
    "diff_b": "diff_b",
    "w_norm": "w_norm",
    "b_norm": "b_norm",
    "set_weight": "set_weight",
    "lora_magnitude_vector": "magnitude",
}

# (prefix, component, slot, scheme). First match wins, so longer prefixes come first.
_PREFIXES = (
    ("lora_unet_", "unet", None, "kohya"),
    ("lora_te1_", "te", "te1", "kohya"),
    ("lora_te2_", "te", "te2", "kohya"),
    ("lora_te3_", "te", "te3", "kohya"),
    ("lora_te_", "te", "te", "kohya"),
    ("lora_transformer_", "unet", None, "onetrainer"),
    ("lora_prior_unet_", "unet", None, "kohya"),
    ("lora_prior_te_", "te", "te", "kohya"),
    ("lycoris_", "unet", None, "lycoris"),
    ("model.diffusion_model.", "unet", None, "comfy"),
    ("diffusion_model.", "unet", None, "comfy"),
    ("base_model.model.", "unet", None, "peft"),
    ("transformer.", "unet", None, "diffusers"),
    ("unet.", "unet", None, "diffusers"),
    ("text_encoder_2.", "te", "te2", "diffusers"),
    ("text_encoder.", "te", "te1", "diffusers"),
    ("text_encoders.", "te", None, "comfy"),
)

_T5_MARKS = ("selfattention", "encoder_block", "densereludense", "encdecattention")


@dataclass(frozen=True)
class ModuleName:
    """One normalized module name.

    `component` is "unet" (the diffusion model, whatever its kind) or "te" (a text encoder);
    `slot` names the text-encoder slot as the file spells it (te, te1, te2, te3, or ComfyUI's
    own clip_l/clip_g/t5xxl/... for `text_encoders.`); `flat` is the module path without the
    naming prefix, underscores only; `scheme` is the naming convention the prefix reveals.
    """

    raw: str
    component: str
    slot: str | None
    flat: str
    scheme: str

    @property
    def looks_t5(self) -> bool:
        low = self.flat.lower()
        return any(mark in low for mark in _T5_MARKS)


_SPLIT_CACHE: dict = {}
_NAME_CACHE: dict = {}
_CACHE_LIMIT = 500_000


def split_tensor_key(key: str):
    """`key` -> (module, role), or None when the suffix is not a known LoRA parameter.

    Results are memoized: libraries repeat the same few thousand key names in every file.
    """
    hit = _SPLIT_CACHE.get(key)
    if hit is not None:
        return hit or None
    result = _split_uncached(key)
    if len(_SPLIT_CACHE) > _CACHE_LIMIT:
        _SPLIT_CACHE.clear()
    _SPLIT_CACHE[key] = result or ()
    return result


def _split_uncached(key: str):
    parts = key.rsplit(".", 3)
    n = len(parts)
    if n >= 4:
        role = _SUFFIX_3.get(".".join(parts[1:]))
        if role:
            return parts[0], role
    if n >= 3:
        role = _SUFFIX_2.get(parts[-2] + "." + parts[-1])
        if role:
            module = key[: -(len(parts[-2]) + len(parts[-1]) + 2)]
            if role in ("up", "down") and parts[-2] in ("up", "down") and module.endswith("_lora"):
                module = module[:-5]  # old diffusers attention processor: `to_q_lora.up.weight`
            return module, role
    if n >= 2:
        role = _SUFFIX_1.get(parts[-1])
        if role:
            return key[: -(len(parts[-1]) + 1)], role
    return None


def normalize_module(module: str) -> ModuleName:
    """The normalized name of a module (memoized)."""
    hit = _NAME_CACHE.get(module)
    if hit is None:
        hit = _normalize_uncached(module)
        if len(_NAME_CACHE) > _CACHE_LIMIT:
            _NAME_CACHE.clear()
        _NAME_CACHE[module] = hit
    return hit


def _normalize_uncached(module: str) -> ModuleName:
    for prefix, component, slot, scheme in _PREFIXES:
        if module.startswith(prefix):
            rest = module[len(prefix):]
            break
    else:
        rest, component, slot, scheme = module, "unet", None, "bare"
    if scheme == "comfy" and component == "te":
        slot, _, rest = rest.partition(".")
    rest = rest.lstrip("_.")  # Wan-Fun writes `lora_unet__blocks_...`
    flat = rest.replace(".", "_")
    if "processor_" in flat:  # old attention-processor names: `attn1.processor.to_q`
        flat = flat.replace("processor_", "")
        if flat.endswith("_to_out"):
            flat += "_0"
    if component == "unet" and flat.startswith(("text_model_", "encoder_layers_", "text_encoders_")):
        component = "te"
    return ModuleName(raw=module, component=component, slot=slot, flat=flat, scheme=scheme)


# The text encoder a kohya `lora_te_` module patches on architectures with one text encoder
# (ComfyUI's names: comfy/supported_models.py clip_target of each class).
SINGLE_TEXT_ENCODER = {
    "sd2": "clip_h", "z_image": "qwen3_4b", "lumina2": "gemma2_2b", "qwen_image": "qwen25_7b",
    "hunyuan_video15": "qwen25_7b", "krea2": "qwen3vl_4b", "ltx2": "gemma3_12b",
    "anima": "qwen3_06b", "ernie_image": "ministral3_3b", "omnigen2": "qwen25_3b",
}


# Flux.2's one text encoder is an LLM chosen by the model size (ComfyUI's Flux2 clip_target).
# A Flux.2 file whose size nothing tells is taken for dev (the base model; Klein is named).
FLUX2_TEXT_ENCODER = {"dev": "mistral3_24b", "klein-4b": "qwen3_4b", "klein-9b": "qwen3_8b"}
# Architectures whose text encoder depends on the variant as well.
ENCODER_BY_VARIANT = frozenset({"flux2"})


def flux2_encoder(variant: str | None) -> str:
    """The text encoder of a Flux.2 variant ("klein-4b", or several joined by ", ": the first known)."""
    for part in (variant or "").split(", "):
        if part in FLUX2_TEXT_ENCODER:
            return FLUX2_TEXT_ENCODER[part]
    return FLUX2_TEXT_ENCODER["dev"]


def encoder_name(name: ModuleName, architecture: str, variant: str | None = None) -> str:
    """Which text encoder a `te` module patches, in ComfyUI's names (clip_l, clip_g, clip_h, t5xxl...)."""
    slot = name.slot
    if slot in (None, "te", "te1", "te2", "te3"):
        if architecture == "flux2" and slot == "te":
            return flux2_encoder(variant)
        if name.looks_t5 or slot == "te3":
            return "umt5xxl" if architecture == "wan" else "t5xxl"
        if slot == "te":
            return SINGLE_TEXT_ENCODER.get(architecture, "clip_l")
        if slot == "te2":
            return "clip_g"
        return "clip_l"
    return slot
