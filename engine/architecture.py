"""Which base architecture a LoRA was trained for: metadata first, then keys and shapes.

Order and signals follow spec/block-weights.md §4.3. The result carries the evidence used, so
`unknown` always says what was seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import dit_families
from .dit_families import first_in_dim
from .metadata import bounded

ARCHITECTURES = (
    "sd1", "sd2", "sdxl", "sd3", "flux", "chroma", "wan", "hunyuan_video", "qwen_image",
    "hidream", "lumina2", "ltxv",
    # families ComfyUI 0.33.0 loads (engine.dit_families)
    "flux2", "chroma_radiance", "z_image", "hunyuan_video15", "ltx2", "kandinsky5", "krea2", "anima",
    "hunyuan_image", "ernie_image", "omnigen2",
    "unknown",
)
# Architectures whose LoRAs share key names and shapes with another one's (the family root):
# ComfyUI loads them on either base, so metadata may name the member the tensors cannot tell;
# the planner warns when a stack mixes members (engine.stack_rules).
FAMILY = {"chroma": "flux", "chroma_radiance": "flux", "ltx2": "ltxv"}


@dataclass
class Architecture:
    name: str
    variant: str | None = None
    source: str = "keys"                # "metadata", "keys" or "metadata+keys"
    evidence: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


# modelspec.architecture prefix (lower case, before "/lora") -> (architecture, variant)
_MODELSPEC = (
    ("stable-diffusion-v1", "sd1", None),
    ("stable-diffusion-v2-768-v", "sd2", "768-v"),
    ("stable-diffusion-v2", "sd2", None),
    ("stable-diffusion-xl-v1-refiner", "sdxl", "refiner"),
    ("stable-diffusion-xl", "sdxl", None),
    ("stable-diffusion-3-5-large", "sd3", "3.5-large"),
    ("stable-diffusion-3-5-medium", "sd3", "3.5-medium"),
    ("stable-diffusion-3", "sd3", "medium"),
    ("flux-1-dev", "flux", "dev"),
    ("flux-1-schnell", "flux", "schnell"),
    ("flux.1-dev", "flux", "dev"),
    ("flux-1", "flux", None),
    ("chroma-radiance", "chroma_radiance", None),
    ("chroma", "chroma", None),
    ("flux-2-dev", "flux2", "dev"),
    ("flux-2-klein-4b", "flux2", "klein-4b"),
    ("flux-2-klein-9b", "flux2", "klein-9b"),
    ("flux-2", "flux2", None),
    ("flux.2", "flux2", None),
    ("wan2.2", "wan", "2.2"),
    ("wan-2.2", "wan", "2.2"),
    ("wan2.1", "wan", "2.1"),
    ("wan-2.1", "wan", "2.1"),
    ("wan", "wan", None),
    ("hunyuan-video-1.5", "hunyuan_video15", None),
    ("hunyuan-image", "hunyuan_image", None),
    ("hunyuan-video", "hunyuan_video", None),
    ("framepack", "hunyuan_video", "framepack"),
    ("qwen-image-edit", "qwen_image", "edit"),
    ("qwen-image", "qwen_image", None),
    ("z-image", "z_image", None),
    ("lumina-2", "lumina2", None),
    ("ltx-2", "ltx2", None),
    ("ltxv", "ltxv", None),
    ("kandinsky-5", "kandinsky5", None),
    ("krea-2", "krea2", None),
    ("krea2", "krea2", None),
    ("anima", "anima", None),
    ("ernie-image", "ernie_image", None),
    ("omnigen2", "omnigen2", None),
    ("omnigen-2", "omnigen2", None),
)

# ss_base_model_version -> (architecture, variant)
_SS_BASE = (
    ("sd_v1", "sd1", None),
    ("sd_v2_v", "sd2", "768-v"),
    ("sd_v2", "sd2", None),
    ("sdxl", "sdxl", None),
    ("flux_kontext", "flux", "kontext"),
    ("flux1", "flux", None),
    ("flux2_klein_4b", "flux2", "klein-4b"),
    ("flux2_klein_9b", "flux2", "klein-9b"),
    ("flux2", "flux2", None),
    ("chroma_radiance", "chroma_radiance", None),
    ("chroma", "chroma", None),
    ("5-large", "sd3", "3.5-large"),
    ("5-medium", "sd3", "3.5-medium"),
    ("medium", "sd3", "medium"),
    ("hunyuan_video_1_5", "hunyuan_video15", None),
    ("hunyuan_image", "hunyuan_image", None),
    ("hunyuan_video", "hunyuan_video", None),
    ("framepack", "hunyuan_video", "framepack"),
    ("wan2.2", "wan", "2.2"),
    ("wan22", "wan", "2.2"),
    ("wan2_2", "wan", "2.2"),
    ("wan_2.2", "wan", "2.2"),
    ("wan_2_2", "wan", "2.2"),
    ("wan2.1", "wan", "2.1"),
    ("wan21", "wan", "2.1"),
    ("wan_2.1", "wan", "2.1"),
    ("wan_2_1", "wan", "2.1"),
    ("wan", "wan", None),
    ("qwen_image_edit", "qwen_image", "edit"),
    ("qwen_image", "qwen_image", None),
    ("z_image", "z_image", None),
    ("zimage", "z_image", None),
    ("lumina2", "lumina2", None),
    ("ltx2", "ltx2", None),
    ("ltx_2", "ltx2", None),
    ("kandinsky5", "kandinsky5", None),
    ("kandinsky_5", "kandinsky5", None),
    ("krea2", "krea2", None),
    ("anima", "anima", None),
    ("ernie_image", "ernie_image", None),
    ("omnigen2", "omnigen2", None),
)


def from_metadata(meta: dict):
    """(architecture, variant, evidence) from the header's metadata, or None."""
    spec = meta.get("modelspec.architecture", "")
    if spec:
        low = spec.lower().split("/")[0]
        for prefix, arch, variant in _MODELSPEC:
            if low.startswith(prefix):
                return arch, variant, f"modelspec.architecture={bounded(spec)}"
    base = meta.get("ss_base_model_version", "")
    if base:
        low = base.lower()
        for prefix, arch, variant in _SS_BASE:
            if low.startswith(prefix):
                return arch, variant, f"ss_base_model_version={bounded(base)}"
    return None


_BLOCK_INDEX = re.compile(r"^(double_blocks|single_blocks|joint_blocks|blocks|transformer_blocks|single_transformer_blocks|double_stream_blocks|layers)_(\d+)(?:_|$)")
_SD_UNET = ("input_blocks_", "middle_block_", "output_blocks_", "down_blocks_", "mid_block_", "up_blocks_")


def from_keys(layout):
    """(architecture, variant, evidence) from module names and shapes; ("unknown", None, why)."""
    unet = layout.unet
    route, indices, alikes = _route(layout)

    if route == "double_single":
        return _klein_by_encoder(_dit_family(unet, indices), alikes, layout)
    if route == "joint_blocks":
        return _sd3(unet, "joint_blocks")
    if route == "hidream":
        return "hidream", None, "double_stream_blocks"
    if route == "kandinsky5":
        return dit_families.kandinsky5(unet)
    if route == "krea2":
        return dit_families.krea2(unet)
    if route == "anima":
        return dit_families.anima(unet)
    if route == "ernie_image":
        return dit_families.ernie_image(unet)
    if route == "omnigen2":
        return dit_families.omnigen2(unet)
    if route == "wan":
        return _wan(unet, indices)
    if route == "transformer_blocks":
        return _klein_by_encoder(_transformer_blocks(unet, indices), alikes, layout)
    if route == "flux2_diffusers":
        return dit_families.flux2_diffusers(unet, True)
    if route == "lumina":
        return dit_families.lumina(unet)
    if route == "sd_unet":
        return _sd_unet(layout)
    if route == "te_only":
        return _te_only(layout)
    seen = sorted({m.name.raw.split(".")[0].split("_blocks")[0] for m in layout.modules})[:5]
    return "unknown", None, "no known block layout in module names" + (f" (e.g. {', '.join(seen)})" if seen else "")


def _route(layout) -> tuple:
    """_family_route of the layout's names, found once per list of names."""
    named = layout.by_names.get("family_route")
    if named is None:
        named = layout.by_names["family_route"] = _family_route(layout, layout.unet)
    return named


def _family_route(layout, unet) -> tuple:
    """(which detector's family the module names point to, {block group: {indices}}, the other
    bases a Flux.1 reading could be for): the part of from_keys that reads names only, so tables
    that share a list of names share it (the detectors then read the shapes). Read-only."""
    indices: dict = {}
    for m in unet:
        hit = _BLOCK_INDEX.match(m.name.flat)
        if hit:
            indices.setdefault(hit.group(1), set()).add(int(hit.group(2)))
    flats = [m.name.flat for m in unet]
    if "double_blocks" in indices or "single_blocks" in indices:
        route = "double_single"
    elif "joint_blocks" in indices:
        route = "joint_blocks"
    elif "double_stream_blocks" in indices:
        route = "hidream"
    elif dit_families.kandinsky5_names(flats):
        route = "kandinsky5"
    elif dit_families.krea2_names(flats, indices):
        route = "krea2"
    elif dit_families.anima_names(flats, indices):
        route = "anima"
    elif "blocks" in indices and any("self_attn" in f or "cross_attn" in f or "_ffn_" in f for f in flats):
        route = "wan"
    elif "transformer_blocks" in indices or "single_transformer_blocks" in indices:
        route = "flux2_diffusers" if dit_families.flux2_diffusers_names(flats) else "transformer_blocks"
    elif dit_families.ernie_image_names(flats, indices):
        route = "ernie_image"
    elif dit_families.omnigen2_names(flats, indices):
        route = "omnigen2"
    elif "layers" in indices and any("attention" in f for f in flats):
        route = "lumina"
    elif any(f.startswith(_SD_UNET) for f in flats):
        route = "sd_unet"
    elif layout.te and not unet:
        route = "te_only"
    else:
        route = "unknown"
    alikes = dit_families.flux_look_alikes(flats) if route in ("double_single", "transformer_blocks") else ()
    return route, indices, alikes


_KLEIN_ENCODERS = ("qwen3_4b", "qwen3_8b")


def _klein_by_encoder(found, alikes, layout):
    """An attention-only Flux.1 reading (Klein 4B's attention is Flux.1's) turns Flux.2 Klein 4B when
    the file also trains an LLM text encoder in the layer names ComfyUI maps for Klein's Qwen3:
    Flux.1's CLIP-L and T5 have no such layers."""
    if found[0] != "flux" or "flux2_klein4b" not in alikes:
        return found
    if any(m.name.slot in _KLEIN_ENCODERS or (m.name.slot == "te" and m.name.flat.startswith("layers_")) for m in layout.te):
        return "flux2", "klein-4b", found[2] + ", attention only (Flux.2 Klein 4B's is Flux.1's), with an LLM text encoder's layers"
    return found


def _dit_family(unet, indices):
    doubles = indices.get("double_blocks", set())
    singles = indices.get("single_blocks", set())
    newer = dit_families.double_single(unet, doubles, singles)
    if newer:
        return newer
    tencent = dit_families.names_any(unet, "tencent", dit_families.tencent_name)
    if tencent or (doubles and max(doubles) >= 19) or (singles and max(singles) >= 38):
        why = "Tencent layer names" if tencent else f"double_blocks up to {max(doubles, default=-1)}, single_blocks up to {max(singles, default=-1)}"
        hidden = first_in_dim(unet, "double_blocks", "attn_qkv") or first_in_dim(unet, "single_blocks", "linear1")
        if hidden == dit_families.HUNYUAN_IMAGE_WIDTH:    # HunyuanImage 2.1: HunyuanVideo's blocks, wider
            return "hunyuan_image", _coverage(doubles, singles, 20, 40), f"double/single blocks with {why}, hidden {hidden}"
        return "hunyuan_video", _coverage(doubles, singles, 20, 40), f"double/single blocks with {why}"
    arch = "chroma" if dit_families.names_any(unet, "chroma_guidance", lambda n: "distilled_guidance_layer" in n.flat) else "flux"
    return arch, _coverage(doubles, singles, 19, 38), f"double_blocks/single_blocks ({len(doubles)} double, {len(singles)} single)"


def _coverage(doubles, singles, n_double, n_single):
    if doubles == set(range(n_double)) and singles == set(range(n_single)):
        return "full"
    if doubles and not singles:
        return "double-only" if doubles == set(range(n_double)) else "partial double-only"
    if singles and not doubles:
        return "single-only" if singles == set(range(n_single)) else "partial single-only"
    return "partial"


def _sd3(unet, block_word):
    hidden = first_in_dim(unet, "x_block", "attn_qkv") or first_in_dim(unet, "attn_to_q") or first_in_dim(unet, "mlp_fc1")
    attn2 = dit_families.names_any(unet, "attn2", lambda n: "attn2" in n.flat)
    if hidden == 2432:
        variant = "3.5-large"
    elif attn2:
        variant = "3.5-medium"
    elif hidden == 1536:
        variant = "medium"
    else:
        variant = None
    return "sd3", variant, f"{block_word} with hidden size {hidden}"


def _wan(unet, indices):
    dim = first_in_dim(unet, "self_attn_q") or first_in_dim(unet, "self_attn_k") or first_in_dim(unet, "cross_attn_q")
    variant = {1536: "2.1-1.3B", 3072: "2.2-5B", 5120: "14B"}.get(dim)
    if dit_families.names_any(unet, "wan_image_input", lambda n: "k_img" in n.flat):
        variant = (variant + " " if variant else "") + "i2v"
    return "wan", variant, f"blocks.N self_attn/cross_attn/ffn, dim {dim}"


def _transformer_blocks(unet, indices):
    if dit_families.names_any(unet, "qwen_image_blocks", lambda n: "img_mlp" in n.flat or "img_mod" in n.flat
                              or "txt_mlp" in n.flat):
        return "qwen_image", None, "transformer_blocks with img_mlp/img_mod/txt_mlp"
    hidden = first_in_dim(unet, "attn_to_q") or first_in_dim(unet, "attn_to_k") \
        or first_in_dim(unet, "transformer_blocks", "ff_linear_in") or first_in_dim(unet, "transformer_blocks", "ff_net_0_proj")
    attn1 = dit_families.names_any(unet, "attn1", lambda n: "attn1" in n.flat)
    flux2_wide = hidden in (4096, 6144) and not attn1   # LTX's blocks have attn1
    if flux2_wide or "single_transformer_blocks" in indices or hidden == 3072:
        newer = dit_families.flux2_diffusers(unet, False)
        if newer:
            return newer
    if "single_transformer_blocks" in indices or hidden == 3072:
        doubles = indices.get("transformer_blocks", set())
        singles = indices.get("single_transformer_blocks", set())
        return "flux", _coverage(doubles, singles, 19, 38), f"diffusers transformer_blocks/single_transformer_blocks, hidden {hidden}"
    if hidden in (1536, 2432) or dit_families.names_any(unet, "sd3_context", lambda n: "context_block" in n.flat
                                                        or "ff_context" in n.flat):
        return _sd3(unet, "transformer_blocks")
    if attn1 and dit_families.names_any(unet, "attn2", lambda n: "attn2" in n.flat):
        return dit_families.ltx(unet, hidden)
    return "unknown", None, f"transformer_blocks with hidden {hidden}: no known model matches"


# Cross-attention context width (attn2 to_k/to_v in-features) of the SD UNet family.
_CONTEXT_DIM = {768: ("sd1", None), 1024: ("sd2", None), 2048: ("sdxl", None), 1280: ("sdxl", "refiner")}


def _sd_unet(layout):
    unet = layout.unet
    for m in unet:
        flat = m.name.flat
        if "attn2" in flat and (flat.endswith("to_k") or flat.endswith("to_v")) and m.in_dim in _CONTEXT_DIM:
            arch, variant = _CONTEXT_DIM[m.in_dim]
            return arch, variant, f"cross-attention context dim {m.in_dim}"
    flats = [m.name.flat for m in unet]
    if any(m.name.slot == "te2" and not m.name.looks_t5 for m in layout.te):
        return "sdxl", None, "two CLIP text encoders (lora_te1_ + lora_te2_)"
    if any(f.startswith("up_blocks_0_attentions") or f.startswith("output_blocks_0_1_") for f in flats):
        return "sdxl", None, "attention in the first output level"
    if any(re.match(r"^(input_blocks_[4578]_1|down_blocks_[12]_attentions_\d)_transformer_blocks_([2-9])", f) for f in flats):
        return "sdxl", None, "more than two transformer blocks per attention"
    attn_320 = any(f.startswith(("down_blocks_0_attentions", "input_blocks_1_1_", "input_blocks_2_1_")) for f in flats)
    for m in unet:
        if m.name.flat.endswith("proj_in") and "down" in m.roles:
            if len(layout.shapes[m.roles["down"]]) == 4:
                return "sd1", None, "1x1 conv proj_in"
            if attn_320:
                return "sd2", None, "linear proj_in with attention at 320 channels"
    te = _te_only(layout) if layout.te else None
    if te and te[0] != "unknown":
        return te
    if attn_320:
        return "sd1", None, "attention at 320 channels"
    return "unknown", None, "SD UNet names without a context-dim or text-encoder signal"


def _te_only(layout):
    slots = {m.name.slot for m in layout.te}
    clip = [m for m in layout.te if not m.name.looks_t5]
    if "te2" in slots and clip and any(m.name.slot == "te2" for m in clip):
        return "sdxl", None, "two CLIP text encoders"
    for m in clip:
        if m.name.flat.endswith(("q_proj", "k_proj")) and m.in_dim:
            if m.in_dim == 768:
                return "sd1", None, "CLIP text encoder, hidden 768"
            if m.in_dim == 1024:
                return "sd2", None, "CLIP text encoder, hidden 1024"
    return "unknown", None, "text-encoder-only LoRA without a decisive signal"


def detect(metadata: dict, layout, keys_result=None) -> Architecture:
    """Metadata decides when it is present and agrees with the tensors' family; tensors win a
    contradiction (with a warning), and metadata fills in what tensors cannot tell.
    `keys_result` is a memoized `from_keys(layout)`."""
    found = _detect(metadata, layout, keys_result)
    if found.name == "wan":
        expert, why = dit_families.wan_expert(metadata)
        if expert:
            found.variant = ", ".join(v for v in (found.variant, expert) if v)
            found.evidence.append(why)
    return found


def _detect(metadata: dict, layout, keys_result=None) -> Architecture:
    meta = from_metadata(metadata)
    keys_arch, keys_variant, keys_why = keys_result or from_keys(layout)
    alikes = _route(layout)[2] if keys_arch == "flux" else ()
    if meta is None:
        return Architecture(keys_arch, keys_variant, "keys", [keys_why], warnings=[dit_families.look_alike_warning(alikes)] if alikes else [])
    m_arch, m_variant, m_why = meta
    if m_arch == "flux2" and "flux2_klein4b" in alikes and m_variant in (None, "klein-4b"):
        # Klein 4B's attention is Flux.1's: the metadata names the base the tensors cannot tell
        return Architecture("flux2", "klein-4b", "metadata+keys", [m_why, keys_why + ", attention only (as Flux.2 Klein 4B's)"])
    if keys_arch == "unknown":
        return Architecture(m_arch, m_variant, "metadata", [m_why, keys_why])
    if FAMILY.get(m_arch, m_arch) == FAMILY.get(keys_arch, keys_arch):
        # the family root's keys cannot tell its members apart: the metadata names the member
        name = m_arch if keys_arch in (FAMILY.get(keys_arch, keys_arch), m_arch) else keys_arch
        variant = ", ".join(dict.fromkeys(v for v in (m_variant, keys_variant) if v)) or None
        return Architecture(name, variant, "metadata+keys", [m_why, keys_why])
    return Architecture(
        keys_arch, keys_variant, "keys", [keys_why, m_why],
        warnings=[f"metadata says {m_arch} ({m_why}) but the tensors are {keys_arch}; trusting the tensors"],
    )

