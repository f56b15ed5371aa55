"""Block-weight strings: Inspire's `block_vector` and A1111's `lbw=`, written and read.

Writing (spec/block-weights.md §1.8):

    inspire_vector(ratios, positions)   "BASE,<one value per position>" for THIS file's own
                                        positions (engine.inspect `blocks`), padded with ignored
                                        filler "1" entries up to Inspire's minimum of 12 entries
    a1111_lbw(architecture, ratios)     the A1111/Forge `lbw=` vector where a standard length
                                        applies (12/17 standard, 20/26 LoCon, 61 Forge Flux), else None

Numbers are canonical: at most DECIMALS decimals, no trailing zeros, no exponent, no "+", "-0"
written "0", so every value matches Inspire's `-?\\d+(\\.\\d+)?` and equal values give equal text.

Reading: `parse_inspire` is Inspire's own grammar (§1.2 steps 2-4; `%` specs and preset names are
reported, not expanded) and `populate` replays how Inspire consumes a vector over a file's
positions (§1.3 step 4, §1.5: missing entries reuse the last value, extra ones are ignored), so
tests can check what a string means without ComfyUI.
"""

from __future__ import annotations

import math
import re

DECIMALS = 4
MIN_ENTRIES = 12            # Inspire's validation minimum (§1.2 step 4)
FILLER = "1"                # value of padding entries; Inspire ignores entries past the last position
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
TOKENS = frozenset("RrUuAaBb")


class VectorError(ValueError):
    """A string Inspire would refuse (it would then try the first entry as a preset name)."""


def canonical_number(value: float, decimals: int = DECIMALS) -> str:
    """`value` rounded to `decimals` places, written as Inspire's grammar wants it."""
    if not math.isfinite(value):
        raise VectorError(f"{value} is not a finite number")
    text = f"{round(float(value), decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def quantize(value: float, decimals: int = DECIMALS) -> float:
    """The float the canonical text of `value` denotes."""
    return float(canonical_number(value, decimals))


# ---------------------------------------------------------------------------------------------
# Inspire


def inspire_vector(ratios: dict, positions: list) -> tuple[str, int]:
    """(block_vector, filler count). `positions` is the file's own layout ("BASE", "IN4",
    "MID1+OUT1", ...: engine.inspect `blocks`); `ratios` maps each of those labels to its value."""
    if not positions or positions[0] != "BASE":
        raise VectorError(f"positions must start with BASE, got {positions[:3]}")
    missing = [p for p in positions if p not in ratios]
    if missing:
        raise VectorError(f"no ratio for position(s) {', '.join(missing)}")
    entries = [canonical_number(ratios[p]) for p in positions]
    filler = max(0, MIN_ENTRIES - len(entries))
    return ",".join(entries + [FILLER] * filler), filler


def parse_inspire(text: str) -> list:
    """Inspire's validation of a `block_vector` (label strip, split, ≥12 entries, token grammar).
    Returns the entries, each a list of tokens (a sub-vector has several). Raises VectorError where
    Inspire would fall back to a preset name or fail."""
    if text.startswith("%"):
        raise VectorError("a '%' spec: expanded by Inspire against the file's groups, not a plain vector")
    parts = text.split(":")
    body = parts[1] if len(parts) > 1 else parts[0]
    entries = [e.strip() for e in body.split(",")]
    if len(entries) < MIN_ENTRIES:
        raise VectorError(f"{len(entries)} entries: Inspire needs at least {MIN_ENTRIES}")
    out = []
    for i, entry in enumerate(entries):
        tokens = entry.split(" ")
        for tok in tokens:
            if not (tok in TOKENS or NUMBER.match(tok)):
                raise VectorError(f"entry {i} {entry!r}: {tok!r} is not a number of the form -?d+(.d+)? nor R/U/A/B")
        out.append(tokens)
    return out


def populate(text: str, positions: list, a: float = 4.0, b: float = 1.0) -> list:
    """The ratio Inspire applies at each of the file's positions (BASE first), as its
    `populated_vector` reports it. Random tokens (R/U) are refused: they have no fixed meaning."""
    entries = parse_inspire(text)
    values = {"A": a, "a": a / 2, "B": b, "b": b / 2}

    def value(tok):
        if tok in "RrUu":
            raise VectorError("R/U tokens are random")
        return values[tok] if tok in values else float(tok)

    blocks = [value(e[0]) for e in entries[1:]]
    out = [value(entries[0][0])]
    last = None
    for i in range(len(positions) - 1):
        if i < len(blocks):
            last = blocks[i]
        out.append(last)
    return out


# ---------------------------------------------------------------------------------------------
# A1111 / Forge (§2.2, §2.5)

_SD17 = ["IN1", "IN2", "IN4", "IN5", "IN7", "IN8", "MID", "OUT3", "OUT4", "OUT5", "OUT6", "OUT7", "OUT8", "OUT9",
         "OUT10", "OUT11"]
_SD26 = [f"IN{i}" for i in range(12)] + ["MID"] + [f"OUT{i}" for i in range(12)]
_XL12 = ["IN4", "IN5", "IN7", "IN8", "MID", "OUT0", "OUT1", "OUT2", "OUT3", "OUT4", "OUT5"]
_XL20 = [f"IN{i}" for i in range(9)] + ["MID"] + [f"OUT{i}" for i in range(9)]
_FLUX61 = ["CLIP", "T5", "IN"] + [f"DOUBLE{i}" for i in range(19)] + [f"SINGLE{i}" for i in range(38)] + ["OUT"]
# Standard layouts after BASE, smallest first. "MID" (A1111 M00) stands for every middle block.
A1111_LAYOUTS = {"sd1": (_SD17, _SD26), "sd2": (_SD17, _SD26), "sdxl": (_XL12, _XL20)}


def a1111_lbw(architecture: str, block_ratios: dict, absent: float = 0.0):
    """(lbw vector, ids, notes) or (None, None, [why]).

    `block_ratios` maps block labels ("BASE", "IN4", "MID1", "DOUBLE3", ...) to the ratio the plan
    gives the file's diffusion-model modules there. A1111's BASE covers the text encoders only, so
    it is written 1 (the text-encoder scale goes in the prompt's TE multiplier) and the file's
    non-block diffusion modules, which A1111 leaves at 1, cannot carry the plan's BASE ratio (a
    note says so when that ratio is not 1). Blocks the file lacks get `absent` (A1111 fills missing
    ids with 0 itself; no module reads them). The smallest standard layout holding every block of
    the file is used: an Inspire 27-entry SD LoCon becomes A1111's 26, an SDXL 21 becomes 20
    (MID0/MID1/MID2 share one M00 value). Flux uses Forge's 61 (CLIP, T5, IN, D00-D18, S00-S37,
    OUT; IN and OUT carry the BASE ratio, as in Inspire)."""
    notes = []
    blocks = {k: v for k, v in block_ratios.items() if k != "BASE"}
    base = block_ratios.get("BASE", 1.0)
    if architecture == "flux":
        ids = _FLUX61
        values = {"CLIP": 1.0, "T5": 1.0, "IN": base, "OUT": base, **blocks}
        if any(k not in ids for k in blocks):
            return None, None, ["blocks outside Forge's Flux layout"]
        return ",".join(canonical_number(values.get(i, absent)) for i in ids), ids, notes
    layouts = A1111_LAYOUTS.get(architecture)
    if layouts is None:
        return None, None, [f"A1111 has no block layout for {architecture}"]
    mids = sorted({v for k, v in blocks.items() if k.startswith("MID")})
    if len(mids) > 1:
        notes.append("middle blocks have different ratios; A1111's single M00 gets the smallest")
    keyed = {("MID" if k.startswith("MID") else k): v for k, v in blocks.items()}
    if mids:
        keyed["MID"] = mids[0]
    for layout in layouts:
        if set(keyed) <= set(layout):
            if base != 1.0 and "BASE" in block_ratios:
                notes.append("A1111 leaves non-block diffusion modules at 1: the plan's BASE ratio "
                             f"{canonical_number(base)} applies in Inspire only")
            ids = ["BASE"] + layout
            values = ["1"] + [canonical_number(keyed.get(i, absent)) for i in layout]
            return ",".join(values), ids, notes
    return None, None, ["blocks outside A1111's standard layouts"]
