"""Where ComfyUI's LoRA loader is known to refuse module names that look valid.

ComfyUI maps a LoRA key only if its key map (built from the model, `comfy/lora.py`) has the
module's prefix; `lora_convert` rewrites a few layouts first. Checked against the real loader
(tests/integration): these are the cases our fixtures of real-world formats hit. A module listed
here "would not load" (ComfyUI logs `lora key not loaded`) and takes no Inspire position.
"""

from __future__ import annotations

from .taxonomy import UNET_FAMILY

_ATTN_PROJ = ("_to_q", "_to_k", "_to_v", "_to_out_0", "_to_out")


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
        elif architecture == "wan" and name.scheme in ("diffusers", "peft"):
            out.append(m)  # WAN maps only `diffusion_model.<path>` and `lora_unet_<path>`
    return out


def dropped_by_inspire(layout) -> list:
    """Modules ComfyUI converts on load but Inspire's block-weight node never sees (it skips
    `lora_convert`): XLabs processor names."""
    return [m for m in layout.modules if _xlabs(m)]
