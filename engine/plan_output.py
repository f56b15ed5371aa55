"""What a plan says, as plain data: per LoRA its record (strengths, the Inspire block vector, the
A1111 lbw prompt, energies per block and per text encoder, notes), the stack's rows per block and
per encoder, and the warnings about budgets and module naming. engine.planner decides the ratios;
this module only writes them down, so the plan's fields can be read in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .block_vectors import a1111_lbw, canonical_number, inspire_vector, quantize
from .plan_budget import SLACK, STEP, quadratic

STRENGTH_LIMIT = 10.0        # Inspire's strength_model / strength_clip range


@dataclass
class Placement:
    """What the policy decided for one LoRA of the stack: the input of its record."""

    entry: object            # engine.planner.Entry
    index: int               # its row and column in the Gram matrices
    positions: list          # its Inspire vector positions ("MID1+OUT1" when two blocks share one)
    values: dict             # position -> ratio (a shared position takes the smaller ratio)
    applied: dict            # block label -> the ratio it gets in Inspire
    why: dict                # block label -> reason
    te_factor: float | None  # smallest factor its text encoders got (None: no encoder budgeted it)
    has_te: bool             # it has text-encoder weights


def lora_record(placement: Placement, blocks_g: dict, te_g: dict, policy: str, warnings: list) -> dict:
    """The plan's entry for one LoRA; what cannot be applied as intended is added to `warnings`."""
    e = placement.entry
    c, k = float(e.strength_model), float(e.clip)
    notes = list(e.notes)
    base = placement.values["BASE"]
    clip, tau = _strength_clip(placement, policy, notes, warnings)
    te_scale = clip * base if placement.has_te or policy == "none" else 0.0
    if placement.has_te and base not in (0.0, 1.0):
        notes.append(f"BASE ratio {canonical_number(base)} also multiplies the text encoders in Inspire: strength_clip "
                     f"{canonical_number(clip)} × {canonical_number(base)} gives the intended scale {canonical_number(tau)}")
    vector, filler = inspire_vector(placement.values, placement.positions)
    if filler:
        notes.append(f"{filler} filler entr{'y' if filler == 1 else 'ies'} ('1') pad the vector to Inspire's minimum "
                     f"of 12; Inspire ignores them")
    lbw, a1111 = _a1111(e, placement.applied, te_scale, c)
    return {
        "path": e.path,
        "role": e.role,
        "architecture": e.inspection.architecture,
        "adapter": e.inspection.adapter,
        "base_model_hint": e.inspection.base_model_hint,
        "input": {"strength_model": c, "strength_clip": k},
        "strength_model": quantize(c),
        "strength_clip": clip,
        "text_encoder_scale": te_scale,
        "block_vector": vector,
        "positions": placement.positions,
        "filler": filler,
        "lbw": lbw,
        "a1111": a1111,
        "blocks": _block_rows(placement, blocks_g, c),
        "text_encoders": _encoder_rows(placement.index, te_g, k, te_scale),
        "profile": {"name": e.profile_name, "multipliers": dict(sorted((e.profile or {}).items()))} if e.profile else None,
        "notes": notes,
    }


def _strength_clip(placement: Placement, policy: str, notes: list, warnings: list):
    """(strength_clip, τ the intended text-encoder scale): the rule for strength_clip in
    engine.planner's docstring, floored to 4 decimals."""
    e, base, has_te = placement.entry, placement.values["BASE"], placement.has_te
    k = float(e.clip)
    if policy == "none":
        tau = k
    elif not has_te:
        tau = 0.0
    else:
        tau = k * (1.0 if placement.te_factor is None else placement.te_factor)
    if not has_te:
        notes.append("no text-encoder weights: strength_clip " + ("kept as given (policy none)" if policy == "none"
                                                                  else "0, nothing to apply"))
        clip = k if policy == "none" else 0.0
    elif base == 0:
        clip = 0.0
        if tau != 0:
            warnings.append(f"{e.path}: BASE ratio 0 also mutes its text encoders in Inspire; strength_clip set to 0 "
                            f"(intended text-encoder scale {canonical_number(tau)} cannot be applied)")
    else:
        clip = tau / base
        if abs(clip) > STRENGTH_LIMIT:
            warnings.append(f"{e.path}: strength_clip {clip:.4g} (= text-encoder scale {canonical_number(tau)} / BASE "
                            f"ratio {canonical_number(base)}) capped at Inspire's {STRENGTH_LIMIT:g}")
            clip = math.copysign(STRENGTH_LIMIT, clip)
    # toward zero, like the ratios: a rounded-up strength_clip would put a budgeted encoder over its budget
    return quantize(math.copysign(math.floor(abs(clip) * STEP + 1e-6) / STEP, clip)), tau


def _a1111(e, applied: dict, te_scale: float, c: float):
    """(lbw, the A1111 record or None) of a LoRA whose architecture has an lbw preset."""
    lbw, lbw_ids, lbw_notes = a1111_lbw(e.inspection.architecture, applied)
    if lbw is None:
        return None, None
    stem = e.path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return lbw, {"lbw": lbw, "ids": lbw_ids, "notes": lbw_notes,
                 "prompt": f"<lora:{stem}:{canonical_number(te_scale)}:{canonical_number(c)}:lbw={lbw}>"}


def _block_rows(placement: Placement, blocks_g: dict, c: float) -> list:
    i, rows = placement.index, []
    for p in placement.positions:
        for b in p.split("+"):
            G = blocks_g.get(b)
            own = G[i][i] if G is not None else 0.0
            r = placement.applied[b]
            rows.append({"block": b, "position": p, "ratio": r, "energy_before": c * c * own,
                         "energy_after": (c * r) ** 2 * own,
                         "reason": placement.why.get(b, "no measurable change here" if own == 0 else "unchanged")})
    return rows


def _encoder_rows(i: int, te_g: dict, k: float, te_scale: float) -> list:
    te_rows = []
    for name, G in te_g.items():
        if G[i][i] > 0:
            te_rows.append({"name": name, "energy_before": k * k * G[i][i], "energy_after": te_scale ** 2 * G[i][i],
                            "scale": te_scale})
    return te_rows


def stack_rows(units: dict, grams: dict, weights, applied, policy: str) -> list:
    """One row per block (or text encoder) of the stack; `applied[i]` maps its names to LoRA i's ratio."""
    return [_stack_row(name, units[name], grams[name], weights, applied, policy) for name in units]


def _stack_row(name, unit, G, weights, applied, policy):
    n = len(weights)
    after_w = [weights[i] * applied[i].get(name, 1.0) for i in range(n)]
    after = quadratic(G, after_w)
    members = sorted(unit["factors"])
    if len(members) < 2:
        status = "one LoRA"
    elif unit["before"] <= unit["budget"] * (1 + SLACK):
        status = "within budget"
    else:
        status = "scaled to budget"
    if after > unit["budget"] * (1 + 1e-6) and len(members) > 1:
        status = "over budget (policy none)" if policy == "none" else "over budget (profile or merged position)"
    return {"name": name, "loras": len(members), "energy_before": unit["before"], "budget": unit["budget"],
            "energy_after": after, "factors": [unit["factors"].get(i) for i in range(n)], "status": status}


def over_budget_warnings(rows, policy: str) -> list:
    """Stack rows that end above their budget after profiles and shared positions."""
    return [f"{row['name']}: combined energy {row['energy_after']:.6g} is above its budget "
            f"{row['budget']:.6g} ({row['status']})" for row in rows
            if row["energy_after"] > row["budget"] * (1 + 1e-6) and policy != "none" and row["loras"] > 1]


def naming_warnings(entries, blocks_g, shared) -> list:
    """Pairs that both act in a block but share no module there: their inner product is unknown
    (different naming families, e.g. BFL double_blocks versus diffusers transformer_blocks)."""
    out = []
    n = len(entries)
    for i in range(n):
        for j in range(i + 1, n):
            blind = [b for b, G in blocks_g.items() if G[i][i] > 0 and G[j][j] > 0
                     and not (shared.get(f"block:{b}") or [[0] * n] * n)[i][j]]
            if blind:
                out.append(f"{entries[i].path} and {entries[j].path} both act on {len(blind)} block(s) "
                           f"({', '.join(blind[:3])}{', ...' if len(blind) > 3 else ''}) without sharing a module "
                           "name (different naming families?): counted as orthogonal there")
    return out
