"""Key and shape signals of the diffusion transformers ComfyUI 0.33.0 loads LoRAs for, beyond
the 0.3.64 set: Flux.2 (dev, Klein 4B/9B), Chroma Radiance, HunyuanVideo 1.5, Z-Image (on the
Lumina 2 class), LTX-2, Kandinsky 5 and Krea 2.

Names and widths come from ComfyUI 0.33.0's model classes (comfy/ldm/*, checked by
tests/integration/test_comfyui_keymap.py on meta-device skeletons). Each detector returns
(architecture, variant, evidence) or None when its family's signals are absent; engine.architecture
calls them in order.
"""

from __future__ import annotations

import re


def first_in_dim(unet, *needles):
    """The input width of the first module whose flat name holds every needle (None if none)."""
    for m in unet:
        if m.in_dim and all(n in m.name.flat for n in needles):
            return m.in_dim
    return None


def _first_out_dim(unet, *needles):
    for m in unet:
        if m.out_dim and all(n in m.name.flat for n in needles):
            return m.out_dim
    return None


# Flux.2 hidden width -> variant. Klein 4B shares Flux.1's 3072 width: its MLP tells it apart
# (SiLU-gated, ratio 3: img_mlp.0 is 6 x hidden wide, linear1 9 x hidden, Flux.1's 4 x and 7 x).
_FLUX2_WIDTH = {6144: "dev", 4096: "klein-9b"}
_FLUX2_GLOBAL_MOD = ("double_stream_modulation_img", "double_stream_modulation_txt", "single_stream_modulation")


def double_single(unet, doubles, singles):
    """Flux.2, HunyuanVideo 1.5 or Chroma Radiance among double/single-block files, else None."""
    flats = [m.name.flat for m in unet]
    hidden = first_in_dim(unet, "double_blocks", "attn_qkv") or first_in_dim(unet, "double_blocks", "attn_proj") \
        or first_in_dim(unet, "single_blocks", "linear1")
    if hidden == 2048 or (doubles and max(doubles) >= 20 and not singles):
        return "hunyuan_video15", None, f"double_blocks up to {max(doubles, default=-1)} with hidden {hidden}, no single blocks"
    global_mod = any(f.startswith(_FLUX2_GLOBAL_MOD) for f in flats)
    mlp_out = _first_out_dim(unet, "double_blocks", "img_mlp_0") or _first_out_dim(unet, "double_blocks", "txt_mlp_0")
    linear1 = _first_out_dim(unet, "single_blocks", "linear1")
    gated = bool(hidden) and (mlp_out == 6 * hidden or linear1 == 9 * hidden)
    if hidden in _FLUX2_WIDTH or global_mod or gated:
        variant = _FLUX2_WIDTH.get(hidden) or ("klein-4b" if hidden == 3072 else None)
        why = "global modulation layers" if global_mod else f"hidden {hidden}" + (", SiLU-gated MLP" if gated else "")
        return "flux2", variant, f"double_blocks/single_blocks with {why}"
    if any(f.startswith(("nerf_blocks_", "nerf_final_layer", "nerf_image_embedder", "img_in_patch")) for f in flats):
        return "chroma_radiance", None, "double/single blocks with NeRF head layers (nerf_blocks, img_in_patch)"
    return None


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
    if any(mark in m.name.flat for m in unet for mark in _LTX2_MARKS):
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
