"""The block taxonomy: module -> block (group, index) -> Inspire vector position.

One table per architecture family, applied to the normalized `flat` path (engine.keys). Groups
and indices are ComfyUI model indices (compvis/BFL), so diffusers UNet names are translated
(spec/block-weights.md §4.4 and §7). The position list follows Inspire's "LoRA Loader (Block
Weight)": BASE first, then IN -> MID -> OUT -> DOUBLE -> SINGLE sorted by index, a new position
whenever the index changes (§1.3 step 4, including its cross-group run-length quirk).
"""

from __future__ import annotations

import re

GROUP_ORDER = ("IN", "MID", "OUT", "DOUBLE", "SINGLE")
_GROUP_RANK = {g: i for i, g in enumerate(GROUP_ORDER)}


def block_order(label: str):
    """Sort key of a block label ("BASE", "IN4", "OUT11", "DOUBLE7"): Inspire's group order, then
    the index; the one ordering of block labels for the whole engine."""
    group = label.rstrip("0123456789")
    index = label[len(group):]
    return _GROUP_RANK.get(group, 99) if group != "BASE" else -1, int(index) if index else -1

# Architecture families whose blocks Inspire groups; every other architecture is BASE-only:
# Inspire 1.21 groups only `input_blocks`/`middle_block`/`output_blocks`/`double_blocks`/
# `single_blocks` keys (WAN, Qwen-Image, Z-Image, LTX, Kandinsky 5, Krea 2, Anima, Ernie-Image and
# OmniGen2 blocks are BASE).
UNET_FAMILY = frozenset({"sd1", "sd2", "sdxl"})
DIT_FAMILY = frozenset({"flux", "chroma", "hunyuan_video", "flux2", "chroma_radiance", "hunyuan_video15",
                        "hunyuan_image"})
# BASE-only families whose inspection says so in a warning (the ComfyUI 0.33.0 additions).
NOTED_BASE_ONLY = frozenset({"z_image", "ltx2", "kandinsky5", "krea2", "anima", "ernie_image", "omnigen2"})


def _sd_compvis(m):
    return {"input": "IN", "middle": "MID", "output": "OUT"}[m.group(1)], int(m.group(2))


def _sd_down(m):
    return "IN", 1 + 3 * int(m.group(1)) + int(m.group(3))


def _sd_downsampler(m):
    return "IN", 3 + 3 * int(m.group(1))


def _sd_mid_resnet(m):
    return "MID", 0 if m.group(1) == "0" else 2


def _sd_up(m):
    return "OUT", 3 * int(m.group(1)) + int(m.group(3))


def _sd_upsampler(m):
    return "OUT", 3 * int(m.group(1)) + 2


def _fixed(group, index):
    return lambda m: (group, index)


def _indexed(group):
    return lambda m: (group, int(m.group(1)))


_UNET_RULES = (
    (re.compile(r"^(input|middle|output)_blocks?_(\d+)(?:_|$)"), _sd_compvis),
    (re.compile(r"^down_blocks_(\d+)_(attentions|resnets)_(\d+)(?:_|$)"), _sd_down),
    (re.compile(r"^down_blocks_(\d+)_downsamplers_0(?:_|$)"), _sd_downsampler),
    (re.compile(r"^mid_block_attentions_0(?:_|$)"), _fixed("MID", 1)),
    (re.compile(r"^mid_block_resnets_(\d)(?:_|$)"), _sd_mid_resnet),
    (re.compile(r"^up_blocks_(\d+)_(attentions|resnets)_(\d+)(?:_|$)"), _sd_up),
    (re.compile(r"^up_blocks_(\d+)_upsamplers_0(?:_|$)"), _sd_upsampler),
    (re.compile(r"^conv_in(?:_|$)"), _fixed("IN", 0)),
)

# `single_transformer_blocks` must be tried before `transformer_blocks` (substring overlap).
_DIT_RULES = (
    (re.compile(r"^double_blocks_(\d+)(?:_|$)"), _indexed("DOUBLE")),
    (re.compile(r"^single_blocks_(\d+)(?:_|$)"), _indexed("SINGLE")),
    (re.compile(r"^single_transformer_blocks_(\d+)(?:_|$)"), _indexed("SINGLE")),
    (re.compile(r"^transformer_blocks_(\d+)(?:_|$)"), _indexed("DOUBLE")),
)


def rules_for(architecture: str):
    if architecture in UNET_FAMILY:
        return _UNET_RULES
    if architecture in DIT_FAMILY:
        return _DIT_RULES
    return ()


_BLOCK_CACHE: dict = {}


def block_of(flat: str, rules) -> tuple[str, int] | None:
    """(group, index) of a diffusion-model module, or None when it belongs to BASE (memoized per
    name for the two rule sets of this module: a scan meets the same names in file after file)."""
    if rules is _UNET_RULES:
        memo = (flat, 0)
    elif rules is _DIT_RULES:
        memo = (flat, 1)
    else:
        return _block_of(flat, rules)
    try:
        return _BLOCK_CACHE[memo]
    except KeyError:
        pass
    if len(_BLOCK_CACHE) > 200_000:
        _BLOCK_CACHE.clear()
    hit = _BLOCK_CACHE[memo] = _block_of(flat, rules)
    return hit


def _block_of(flat: str, rules):
    for pattern, to_block in rules:
        m = pattern.match(flat)
        if m:
            return to_block(m)
    return None


def block_label(block: tuple[str, int] | None) -> str:
    return "BASE" if block is None else f"{block[0]}{block[1]}"


def inspire_positions(blocks) -> list[list[tuple[str, int]]]:
    """Group distinct (group, index) blocks into Inspire's vector positions (BASE excluded).

    Sorted IN -> MID -> OUT -> DOUBLE -> SINGLE, then by index; consecutive blocks that share an
    index share a position even across groups (Inspire compares indices only).
    """
    ordered = sorted(set(blocks), key=lambda b: (_GROUP_RANK[b[0]], b[1]))
    positions: list[list[tuple[str, int]]] = []
    previous = None
    for block in ordered:
        if positions and block[1] == previous:
            positions[-1].append(block)
        else:
            positions.append([block])
        previous = block[1]
    return positions


def position_labels(blocks) -> list[str]:
    """The Inspire vector layout of a file: "BASE" then one label per position ("MID1+OUT1" when
    Inspire's run-length rule merges two blocks into one position)."""
    return ["BASE"] + ["+".join(block_label(b) for b in pos) for pos in inspire_positions(blocks)]
