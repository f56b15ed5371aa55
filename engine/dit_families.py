"""Key and shape signals of the diffusion transformers ComfyUI 0.33.0 loads LoRAs for, beyond
the 0.3.64 set: Flux.2 (dev, Klein 4B/9B), Chroma Radiance, HunyuanVideo 1.5, Z-Image (on the
Lumina 2 class), LTX-2, Kandinsky 5, Krea 2, Anima, HunyuanImage 2.1, Ernie-Image and OmniGen2.

Names and widths come from ComfyUI 0.33.0's model classes (comfy/ldm/*, checked by
tests/integration/test_comfyui_keymap.py on meta-device skeletons). Each detector returns
(architecture, variant, evidence) or None when its family's signals are absent; engine.architecture
calls them in order.
"""

from __future__ import annotations

import re


def first_in_dim(unet, *needles):
    """The input width of the first module whose flat name holds every needle (None if none)."""
    for i in _holding(unet, needles):
        if unet[i].in_dim:
            return unet[i].in_dim
    return None


def _first_out_dim(unet, *needles):
    for i in _holding(unet, needles):
        if unet[i].out_dim:
            return unet[i].out_dim
    return None


def names_any(unet, fact: str, test) -> bool:
    """Whether the name (a keys.ModuleName) of a module passes `test`; `fact` names the question."""
    return _asked_once(unet, ("any", fact), lambda: any(test(m.name) for m in unet))


def _holding(unet, needles) -> tuple:
    """Positions of the modules whose flat name holds every needle."""
    return _asked_once(unet, ("holding", needles),
                       lambda: tuple(i for i, m in enumerate(unet) if all(n in m.name.flat for n in needles)))


def _asked_once(unet, key, answer):
    """`answer()` to a question about the module names alone: kept in the memo of the list of
    names when `unet` carries it (engine.layout.Layout.unet), so tables that repeat the names
    ask it once."""
    memo = getattr(unet, "names_memo", None)
    if memo is None:
        return answer()
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = answer()
    return hit


# Flux.2 hidden width -> variant. Klein 4B shares Flux.1's 3072 width: its MLP tells it apart
# (SiLU-gated, ratio 3: img_mlp.0 is 6 x hidden wide and img_mlp.2 reads 3 x hidden, linear1 is
# 9 x hidden and linear2 reads 4 x hidden; Flux.1's are 4 x, 4 x, 7 x and 5 x).
_FLUX2_WIDTH = {6144: "dev", 4096: "klein-9b"}
# Flux.2's modulation layers, shared by all blocks (ComfyUI maps them only in these BFL names).
FLUX2_GLOBAL_MOD = ("double_stream_modulation_img", "double_stream_modulation_txt", "single_stream_modulation")


def _flux2_variant(hidden, gated):
    return _FLUX2_WIDTH.get(hidden) or ("klein-4b" if hidden == 3072 and gated else None)


# HunyuanImage 2.1 is HunyuanVideo's model class at hidden 3584 (HunyuanVideo: 3072). ComfyUI maps
# its LoRAs by the generic names only: `diffusion_model.<path>` / `lora_unet_<path>` in ComfyUI's own
# spelling, so diffusion-pipe's Tencent spelling (img_mlp.fc1, img_mod.linear, img_attn_qkv as one
# module) and `transformer.` names, which ComfyUI renames for HunyuanVideo only, do not load.
HUNYUAN_IMAGE_WIDTH = 3584
_TENCENT_FLAT = ("_mlp_fc1", "_mlp_fc2", "_mod_linear", "modulation_linear")
_TENCENT_RAW = (".img_attn_qkv", ".txt_attn_qkv", ".img_attn_proj", ".txt_attn_proj")


# Names only HunyuanVideo-family files have (Flux names the same blocks differently): the detection
# hint of its Tencent layer names, with the text refiner ComfyUI's class keeps too.
_HUNYUAN_NAMES = ("img_mlp_fc1", "img_mod_linear", "txt_mod_linear", "modulation_linear", "individual_token_refiner")


def tencent_spelling(name) -> bool:
    """Whether a module name (keys.ModuleName) is spelled as Tencent's HunyuanVideo code spells it."""
    return name.flat.endswith(_TENCENT_FLAT) or name.raw.endswith(_TENCENT_RAW)


def tencent_name(name) -> bool:
    """Whether a module name points to the HunyuanVideo family rather than Flux (its layer names)."""
    return any(n in name.flat for n in _HUNYUAN_NAMES) or ".img_attn_qkv" in name.raw or ".txt_attn_qkv" in name.raw


_NERF_HEAD = ("nerf_blocks_", "nerf_final_layer", "nerf_image_embedder", "img_in_patch")


def double_single(unet, doubles, singles):
    """Flux.2, HunyuanVideo 1.5 or Chroma Radiance among double/single-block files, else None."""
    hidden = first_in_dim(unet, "double_blocks", "attn_qkv") or first_in_dim(unet, "double_blocks", "attn_proj") \
        or first_in_dim(unet, "single_blocks", "linear1") or first_in_dim(unet, "double_blocks", "mlp_0") \
        or _first_out_dim(unet, "single_blocks", "linear2") or _first_out_dim(unet, "double_blocks", "mlp_2")
    if hidden == 2048 or (doubles and max(doubles) >= 20 and not singles):
        return "hunyuan_video15", None, f"double_blocks up to {max(doubles, default=-1)} with hidden {hidden}, no single blocks"
    global_mod = names_any(unet, "flux2_global_modulation", lambda n: n.flat.startswith(FLUX2_GLOBAL_MOD))
    gated = bool(hidden) and (
        _first_out_dim(unet, "double_blocks", "mlp_0") == 6 * hidden or first_in_dim(unet, "double_blocks", "mlp_2") == 3 * hidden
        or _first_out_dim(unet, "single_blocks", "linear1") == 9 * hidden
        or first_in_dim(unet, "single_blocks", "linear2") == 4 * hidden)
    if hidden in _FLUX2_WIDTH or global_mod or gated:
        why = "global modulation layers" if global_mod else f"hidden {hidden}" + (", SiLU-gated MLP" if gated else "")
        return "flux2", _flux2_variant(hidden, gated or global_mod), f"double_blocks/single_blocks with {why}"
    if names_any(unet, "nerf_head", lambda n: n.flat.startswith(_NERF_HEAD)):
        return "chroma_radiance", None, "double/single blocks with NeRF head layers (nerf_blocks, img_in_patch)"
    return None


# Names only Flux.2's diffusers layout has (Flux.1's single blocks have no output projection
# in attention, and no fused QKV+MLP input): ComfyUI maps them through flux_to_diffusers.
_FLUX2_DIFFUSERS_SINGLE = ("attn_to_qkv_mlp_proj", "attn_to_out")


def flux2_diffusers_names(flats) -> bool:
    """Whether diffusers-named (`transformer_blocks`) module names are Flux.2's."""
    return any(f.startswith("single_transformer_blocks_") and f.endswith(_FLUX2_DIFFUSERS_SINGLE)
               or f.startswith(FLUX2_GLOBAL_MOD) for f in flats)


def flux2_diffusers(unet, named: bool):
    """Flux.2 in diffusers names (`transformer_blocks.N.attn.to_q`, `ff.linear_in`,
    `single_transformer_blocks.N.attn.to_qkv_mlp_proj`), else None: Flux 2's own names
    (`named`), a Flux.2 width, or the gated MLP at 3072 (`ff.linear_in` alone is also a LyCORIS
    name of Flux.1's MLP: its width decides)."""
    hidden = first_in_dim(unet, "attn_to_q") or first_in_dim(unet, "attn_add_q_proj") \
        or first_in_dim(unet, "attn_to_qkv_mlp_proj") or first_in_dim(unet, "ff_linear_in") \
        or first_in_dim(unet, "transformer_blocks", "ff_net_0_proj") \
        or _first_out_dim(unet, "attn_to_out") or _first_out_dim(unet, "ff_linear_out")
    if not hidden:
        return ("flux2", None, "diffusers Flux.2 names (to_qkv_mlp_proj, global modulation)") if named else None
    mlp_out = _first_out_dim(unet, "transformer_blocks", "ff_linear_in") or _first_out_dim(unet, "ff_context_linear_in") \
        or _first_out_dim(unet, "transformer_blocks", "ff_net_0_proj") or _first_out_dim(unet, "ff_context_net_0_proj")
    mlp_in = first_in_dim(unet, "transformer_blocks", "ff_linear_out") or first_in_dim(unet, "ff_context_linear_out") \
        or first_in_dim(unet, "transformer_blocks", "ff_net_2") or first_in_dim(unet, "ff_context_net_2")
    fused = _first_out_dim(unet, "attn_to_qkv_mlp_proj")
    gated = mlp_out == 6 * hidden or mlp_in == 3 * hidden or fused == 9 * hidden
    # a Flux.2 width alone counts in a Flux-style double block (the text stream's add_q_proj /
    # to_add_out / ff_context): LTX-Video 13B is 4096 wide too
    joint = hidden in _FLUX2_WIDTH and bool(first_in_dim(unet, "attn_add_") or first_in_dim(unet, "attn_to_add_out")
                                            or first_in_dim(unet, "ff_context_"))
    if not (named or gated or joint):
        return None
    why = "to_qkv_mlp_proj" if fused else ("SiLU-gated MLP" if gated else "its width")
    return "flux2", _flux2_variant(hidden, gated or named), f"diffusers transformer_blocks/single_transformer_blocks, hidden {hidden} ({why})"


# Flux.1's LoRAs load on two other bases whose blocks have Flux.1's names and shapes: Chroma (no
# per-block modulation, no time/guidance embedders) and Flux.2 Klein 4B (no per-block modulation
# either; its attention is Flux.1's at width 3072, only its MLPs differ). Neither has vector_in.
_FLUX1_ONLY = ("img_mod", "txt_mod", "_modulation_lin", "norm1_linear", "norm1_context_linear", "_norm_linear",
               "vector_in", "time_text_embed_text_embedder", "_qkv_lora", "_proj_lora")
_FLUX1_EMBEDDERS = ("time_in", "guidance_in", "time_text_embed")


def flux_look_alikes(flats) -> tuple:
    """The other bases a Flux.1-shaped file with these module names may be for, from the names
    alone: ("chroma", "flux2_klein4b"), either, or (). XLabs processor names are Flux.1's only."""
    mlp = single = embedded = False
    for f in flats:
        if any(mark in f for mark in _FLUX1_ONLY):
            return ()
        if f.startswith(_FLUX1_EMBEDDERS):
            embedded = True
        elif f.startswith(("single_blocks_", "single_transformer_blocks_")):
            single = True
        elif "_mlp_" in f or "_ff_" in f:
            mlp = True
    out = () if embedded else ("chroma",)
    return out + (("flux2_klein4b",) if not (mlp or single) else ())


def lumina(unet):
    """Z-Image or Lumina 2 (both `layers.N.attention`, told apart by width)."""
    hidden = first_in_dim(unet, "attention_qkv") or first_in_dim(unet, "attention_to_q") \
        or first_in_dim(unet, "attention_out") or first_in_dim(unet, "attention_to_out") \
        or first_in_dim(unet, "feed_forward_w1")
    if hidden == 3840:
        return "z_image", None, f"layers.N.attention with dim {hidden} (Z-Image)"
    return "lumina2", None, "layers.N.attention" + (f" with dim {hidden}" if hidden else "")


_LTX2_MARKS = ("audio_attn1", "audio_attn2", "audio_ff", "audio_to_video_attn", "video_to_audio_attn")


def ltx(unet, hidden):
    """LTX-2 (audio-video) or LTX-Video among transformer_blocks with attn1/attn2."""
    if names_any(unet, "ltx2_audio", lambda n: any(mark in n.flat for mark in _LTX2_MARKS)):
        return "ltx2", None, "transformer_blocks with audio and audio-video attention (LTX-2)"
    variant = {2048: "2B", 4096: "13B"}.get(hidden)
    return "ltxv", variant, f"transformer_blocks with attn1/attn2, hidden {hidden}"


_KANDINSKY_BLOCK = re.compile(r"^(visual|text)_transformer_blocks_\d+_")


def kandinsky5_names(flats) -> bool:
    """Whether the diffusion-model module names are Kandinsky 5's."""
    return any(map(_KANDINSKY_BLOCK.match, flats))


def kandinsky5(unet):
    """Kandinsky 5 (its names told by kandinsky5_names), the variant by model width."""
    dim = first_in_dim(unet, "self_attention_to_query") or first_in_dim(unet, "self_attention_to_key") \
        or first_in_dim(unet, "feed_forward_in_layer")
    variant = {1792: "lite", 4096: "pro", 2560: "image-lite"}.get(dim)
    return "kandinsky5", variant, f"visual/text_transformer_blocks, model dim {dim}"


# Krea 2 in its own names (blocks.N.attn.wq/gate, mlp.gate/up/down, txtfusion) and in the
# diffusers names ComfyUI maps (transformer_blocks.N.attn.to_gate, ff.gate, text_fusion).
_KREA2_NATIVE = ("attn_wq", "attn_wk", "attn_wv", "attn_wo", "mlp_gate", "mlp_up", "mlp_down")
_KREA2_DIFFUSERS = ("attn_to_gate", "ff_gate", "ff_up", "ff_down")


def krea2_names(flats, indices) -> bool:
    """Whether the diffusion-model module names are Krea 2's (native, diffusers or its text fusion)."""
    native = "blocks" in indices and any(f.startswith("blocks_") and f.endswith(_KREA2_NATIVE) for f in flats)
    diffusers = "transformer_blocks" in indices and any(f.endswith(_KREA2_DIFFUSERS) for f in flats)
    return native or diffusers or any(f.startswith(("txtfusion_", "text_fusion_")) for f in flats)


def krea2(unet):
    """Krea 2 (its names told by krea2_names), with its attention width as evidence."""
    width = first_in_dim(unet, "attn_wq") or first_in_dim(unet, "attn_to_q")
    return "krea2", None, f"Krea 2 blocks (gated attention, SwiGLU gate/up/down), width {width}"


# Anima (a Cosmos-Predict2 2B DiT with an LLM adapter): blocks.N.self_attn/cross_attn with
# q_proj/k_proj/v_proj/output_proj, mlp.layer1/layer2 and adaLN-LoRA modulations (WAN's blocks say
# self_attn.q/k/v/o and ffn.0/2). ComfyUI maps them through its generic names.
_ANIMA_BLOCK = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_output_proj",
                "cross_attn_q_proj", "cross_attn_k_proj", "cross_attn_v_proj", "cross_attn_output_proj",
                "mlp_layer1", "mlp_layer2")
_ANIMA_WIDTH = {2048: "2B", 5120: "14B"}


def anima_names(flats, indices) -> bool:
    """Whether the diffusion-model module names are Anima's (Cosmos-Predict2 blocks or its LLM adapter)."""
    blocks = "blocks" in indices and any(f.startswith("blocks_") and (f.endswith(_ANIMA_BLOCK) or "_adaln_modulation_" in f)
                                         for f in flats)
    return blocks or any(f.startswith("llm_adapter_") for f in flats)


def anima(unet):
    """Anima, the variant by model width (Cosmos-Predict2 2B's 2048; 14B's 5120 has the same names)."""
    width = first_in_dim(unet, "self_attn_q_proj") or first_in_dim(unet, "mlp_layer1") \
        or first_in_dim(unet, "cross_attn_q_proj")
    adapter = names_any(unet, "anima_llm_adapter", lambda n: n.flat.startswith("llm_adapter_"))
    return "anima", _ANIMA_WIDTH.get(width), (f"Cosmos-Predict2 blocks (self_attn/cross_attn q_proj..output_proj, "
                                               f"mlp.layer1/2), width {width}" + (", LLM adapter" if adapter else ""))


# Ernie-Image: `layers.N` like Lumina 2 / Z-Image, but self_attention.to_q/to_k/to_v/to_out and a gated
# mlp.gate_proj/up_proj/linear_fc2 (Lumina's are attention.qkv/out and feed_forward.w1/w2/w3).
_ERNIE_LAYER = ("_mlp_gate_proj", "_mlp_up_proj", "_mlp_linear_fc2")


def ernie_image_names(flats, indices) -> bool:
    """Whether the diffusion-model module names are Ernie-Image's."""
    return "layers" in indices and any(f.startswith("layers_") and ("_self_attention_to_" in f or f.endswith(_ERNIE_LAYER))
                                       for f in flats)


def ernie_image(unet):
    """Ernie-Image (its names told by ernie_image_names), with its width as evidence."""
    width = first_in_dim(unet, "self_attention_to_q") or first_in_dim(unet, "mlp_gate_proj")
    return "ernie_image", None, f"layers.N self_attention + gated mlp (Ernie-Image), width {width}"


# OmniGen2: Lumina-style `layers.N` (and noise/context/ref-image refiners) named attn.to_q/to_k/to_v/
# to_out.0 and feed_forward.linear_1/2/3 (Lumina 2 and Z-Image say `attention` and w1/w2/w3).
_OMNIGEN2_STACKS = ("layers_", "noise_refiner_", "context_refiner_", "ref_image_refiner_")


def omnigen2_names(flats, indices) -> bool:
    """Whether the diffusion-model module names are OmniGen2's."""
    return "layers" in indices and any(f.startswith(_OMNIGEN2_STACKS) and ("_attn_to_" in f or "_feed_forward_linear_" in f)
                                       for f in flats)


def omnigen2(unet):
    """OmniGen2 (its names told by omnigen2_names), with its width as evidence."""
    width = first_in_dim(unet, "attn_to_q") or first_in_dim(unet, "feed_forward_linear_1")
    return "omnigen2", None, f"layers.N attn.to_q.. + feed_forward.linear_1/2/3 (OmniGen2), width {width}"


_LOOK_ALIKE = {
    "chroma": ("Chroma", "no per-block modulation (img_mod/txt_mod/modulation) or time/vector embedders, which Chroma lacks",
               "chroma/lora", "chroma"),
    "flux2_klein4b": ("Flux.2 Klein 4B", "double-block attention only, at width 3072 (Klein 4B's attention is Flux.1's; "
                      "only its MLPs would differ)", "flux-2-klein-4b/lora", "flux2_klein_4b"),
}


def look_alike_warning(alikes) -> str:
    """Why a file read as Flux.1 may be for another base, and which metadata settles it."""
    names = " or ".join(_LOOK_ALIKE[a][0] for a in alikes)
    why = "; ".join(_LOOK_ALIKE[a][1] for a in alikes)
    specs = ", ".join(f"`{_LOOK_ALIKE[a][2]}`" for a in alikes)
    bases = ", ".join(f"`{_LOOK_ALIKE[a][3]}`" for a in alikes)
    return (f"read as flux (Flux.1), but the tensors fit {names} as well ({why}); no metadata names the base. "
            f"ComfyUI loads it on any of them: if it is not Flux.1, set the file's `modelspec.architecture` "
            f"(`flux-1-dev/lora`, {specs}) or `ss_base_model_version` (`flux1`, {bases})")


_EXPERT = (("high_noise", "high-noise"), ("high-noise", "high-noise"), ("low_noise", "low-noise"), ("low-noise", "low-noise"))
_EXPERT_FIELDS = ("ss_sd_model_name", "modelspec.base_model", "modelspec.architecture", "modelspec.title", "ss_output_name")


def wan_expert(meta: dict):
    """(WAN 2.2 A14B expert, evidence) from the names the trainer recorded, or (None, None)."""
    for name in _EXPERT_FIELDS:
        value = str(meta.get(name, ""))[:512].lower()
        for mark, expert in _EXPERT:
            if mark in value:
                return expert, f"{name} names the {expert} expert"
    return None, None
