"""The multi-LoRA planner: per LoRA a `strength_model`, a `strength_clip` and a block vector for
Inspire's "LoRA Loader (Block Weight)" (one node per LoRA), so a stack stays within an energy
budget in every block. Pure: it takes inspections and the stack's Gram matrices as data
(engine.interference.stack_gram) and returns plain data. It never merges LoRAs.

Notation: LoRA i at strength c_i (strength_model); per block b (a block label: BASE, IN4, DOUBLE7,
...; BASE = the diffusion modules outside any block) the Gram matrix G_b (G_b[i,j] = Σ over shared
modules ⟨ΔW_i, ΔW_j⟩, G_b[i,i] = LoRA i's whole energy in b). The energy the stack puts in b is

    E_b(w) = wᵀ G_b w        with w_i = c_i × r_i,b (r = the block ratio of LoRA i in b)

so LoRAs that reinforce each other (positive inner products) count more than orthogonal ones.

Policies:
    none            r = 1 everywhere, strengths as given.
    balanced        budget_b = (1 + headroom) × max_i c_i² G_b[i,i] (the strongest single LoRA in b
                    at its chosen strength, plus headroom). If E_b(c) > budget_b, every LoRA that acts
                    in b gets the same factor s_b = √(budget_b / E_b(c)), so E_b lands on the budget.
    role-priority   the LoRAs of b are split into tiers by role (role_order; no role or an unlisted
                    role = the last tier). Tier by tier, the LoRAs already placed (K, weights w_K) keep
                    their weights and the tier X gets the largest common factor s ∈ [0, 1] with
                        s² c_Xᵀ G_XX c_X + 2 s w_Kᵀ G_KX c_X + w_Kᵀ G_KK w_K ≤ budget_b,
                    i.e. s = (−β + √(β² + α(budget_b − κ))) / α (α, β, κ the three terms). The first
                    tier is thus kept whole unless it alone exceeds the budget; what is left goes to
                    the next tier, and so on (a tier may get 0). `balanced` is the one-tier case.

Text encoders (the rule for strength_clip): each text encoder e (clip_l, clip_g, t5xxl, ...) is
budgeted like a block, with the LoRAs' clip strengths k_i (strength_clip as given, default c_i) in
place of c_i. LoRA i's intended text-encoder scale is τ_i = k_i × min over its encoders of s_e,i.
Inspire multiplies text-encoder patches by strength_clip × the BASE entry, so the emitted
strength_clip = τ_i / r_i,BASE. A LoRA without text-encoder weights gets strength_clip 0 (nothing to
apply; a note says so). A BASE ratio of 0 mutes the text encoders in Inspire whatever strength_clip
is: strength_clip is then 0 and a warning says so. |strength_clip| is capped at Inspire's 10.

Profiles (per-LoRA multipliers keyed by block label "OUT3" or group "OUT"/"DOUBLE"/..., an exact
label winning over its group) multiply the policy's ratios afterwards and are reported; a profile
that pushes a block over its budget is flagged. Where Inspire's run-length rule makes two blocks
share one vector position ("MID1+OUT1"), the position takes the smaller of their ratios.

Ratios are floored to 4 decimals (so a scaled block never ends above its budget), strengths rounded
to 4 decimals, energies reported to 6 significant digits: the same inputs give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .analysis import round_figures
from .block_vectors import canonical_number, quantize
from .errors import PlanError  # noqa: F401 - callers import it from here too
from .plan_budget import Policy, budget_unit, factor_reason
from .plan_output import (STRENGTH_LIMIT, Placement, lora_record, naming_warnings, over_budget_warnings,
                          stack_rows)
from .taxonomy import GROUP_ORDER

PLAN_SCHEMA_VERSION = 1
POLICIES = ("none", "balanced", "role-priority")
DEFAULT_POLICY = "balanced"
DEFAULT_HEADROOM = 0.5
MAX_HEADROOM = 10.0
DEFAULT_ROLE_ORDER = ("characters", "concepts", "poses", "styles")
PROFILE_GROUPS = ("BASE",) + GROUP_ORDER


@dataclass
class Entry:
    """One LoRA of a stack. `inspection` is engine.inspect's Inspection (ok, same family)."""

    path: str
    strength_model: float
    inspection: object
    strength_clip: float | None = None       # None: same as strength_model
    role: str | None = None
    profile: dict | None = None              # block label or group -> multiplier
    profile_name: str | None = None
    notes: list = field(default_factory=list)

    @property
    def clip(self) -> float:
        return self.strength_model if self.strength_clip is None else self.strength_clip


# ---------------------------------------------------------------------------------------------
# Validation


def check_number(value, what: str, limit: float = STRENGTH_LIMIT):
    """(float, None) or (None, problem) for a user-given strength."""
    try:
        x = float(value)
    except OverflowError:                # an integer too large for a float: out of range, not a crash
        return None, f"{what} is a number too large (outside Inspire's range -{limit:g}..{limit:g})"
    except (TypeError, ValueError):
        return None, f"{what} {value!r} is not a number"
    if not math.isfinite(x):
        return None, f"{what} {value!r} is not a finite number"
    if abs(x) > limit:
        return None, f"{what} {canonical_number(x)} is outside Inspire's range -{limit:g}..{limit:g}"
    return x, None


def validate_options(policy: str, headroom: float, role_order) -> list:
    """Every problem of a request's options."""
    problems = []
    if policy not in POLICIES:
        problems.append(f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}")
    # the range first: math.isfinite of a 4,200-digit integer raises OverflowError
    if not isinstance(headroom, (int, float)) or not 0 <= headroom <= MAX_HEADROOM or not math.isfinite(headroom):
        problems.append(f"headroom {headroom!r} must be a number between 0 and {MAX_HEADROOM:g}")
    if len(set(role_order)) != len(tuple(role_order)):
        problems.append(f"role order {list(role_order)} names a role twice")
    return problems


def validate(entries, policy: str, headroom: float, role_order) -> list:
    """Every problem of a request (empty when it can be planned)."""
    problems = validate_options(policy, headroom, role_order)
    if not entries:
        problems.append("empty stack: give at least one LoRA")
    seen = {}
    for e in entries:
        if e.path in seen:
            problems.append(f"{e.path} is listed twice (give each LoRA once, with its strength)")
        seen[e.path] = True
        for value, what in ((e.strength_model, "strength_model"), (e.strength_clip, "strength_clip")):
            if value is None and what == "strength_clip":
                continue
            if check_number(value, f"{e.path}: {what}")[1]:
                problems.append(check_number(value, f"{e.path}: {what}")[1])
        for key, mult in (e.profile or {}).items():
            if check_number(mult, f"{e.path}: profile {key}")[1]:
                problems.append(check_number(mult, f"{e.path}: profile {key}")[1])
    return problems


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class _Stack:
    """The stack as the planning steps read it: per LoRA (by index) its role, strength_model `c`,
    clip strength `k` and Inspire positions; per block label and per text encoder a Gram matrix."""

    entries: list
    roles: list
    c: list
    k: list
    positions: list
    blocks_g: dict
    te_g: dict

    @classmethod
    def of(cls, entries, gram: dict) -> "_Stack":
        return cls(entries, [e.role for e in entries], [float(e.strength_model) for e in entries],
                   [float(e.clip) for e in entries], [list(e.inspection.blocks) for e in entries],
                   gram.get("blocks") or {}, gram.get("text_encoders") or {})

    def has_te(self, i: int) -> bool:
        return any(G[i][i] > 0 for G in self.te_g.values()) or bool(self.entries[i].inspection.text_encoder)


def make_plan(entries, gram: dict, *, policy: str = DEFAULT_POLICY, headroom: float = DEFAULT_HEADROOM,
              role_order=DEFAULT_ROLE_ORDER, excluded=(), warnings=()) -> dict:
    """The plan of a validated stack. `gram` is stack_gram's result for the entries' paths, in
    the same order. Raises PlanError for a request that cannot be planned."""
    role_order = tuple(role_order)
    problems = validate(entries, policy, headroom, role_order)
    if problems:
        raise PlanError(problems)
    warnings = list(warnings)
    if len(entries) == 1:
        warnings.append("one LoRA alone: nothing to balance, its blocks keep ratio 1")
    stack = _Stack.of(entries, gram)
    rules = Policy(policy, headroom, role_order)
    units, ratio, why = _block_ratios(stack, rules)
    _apply_profiles(stack, ratio, why, warnings)
    values, applied = _position_values(stack.positions, ratio, why)
    te_units, te_factor = _encoder_factors(stack, rules)
    loras = []
    for i, e in enumerate(entries):
        placement = Placement(e, i, stack.positions[i], values[i], applied[i], why[i], te_factor[i], stack.has_te(i))
        loras.append(lora_record(placement, stack.blocks_g, stack.te_g, policy, warnings))
    te_applied = [dict.fromkeys(te_units, (lo["text_encoder_scale"] / stack.k[i]) if stack.k[i] else 0.0)
                  for i, lo in enumerate(loras)]
    table = {"blocks": stack_rows(units, stack.blocks_g, stack.c, applied, policy),
             "text_encoders": stack_rows(te_units, stack.te_g, stack.k, te_applied, policy)}
    warnings += over_budget_warnings(table["blocks"] + table["text_encoders"], policy)
    warnings += naming_warnings(entries, stack.blocks_g, gram.get("shared") or {})
    warnings += [f"{e.path}: {w}" for e in entries for w in e.inspection.warnings or () if "Inspire" in w]
    plan = {
        "schema_version": PLAN_SCHEMA_VERSION,
        "policy": policy,
        "headroom": headroom,
        "role_order": list(role_order),
        "architecture": entries[0].inspection.architecture,
        "analysis_version": gram.get("analysis_version"),
        "loras": loras,
        "stack": table,
        "excluded": list(excluded),
        "warnings": warnings,
    }
    return round_figures(plan, 6)


def _block_ratios(stack: _Stack, rules: Policy):
    """Step 1, the policy: (unit per block label, per LoRA {block: ratio}, per LoRA {block: reason})."""
    n = len(stack.entries)
    units, ratio, why = {}, [dict() for _ in range(n)], [dict() for _ in range(n)]
    for label, G in stack.blocks_g.items():
        members = [i for i in range(n) if G[i][i] > 0 and stack.c[i] != 0]
        unit = units[label] = budget_unit(G, stack.c, members, stack.roles, rules)
        for i in members:
            ratio[i][label] = unit["factors"][i]
            why[i][label] = factor_reason(unit, i, members, stack.roles, rules)
    return units, ratio, why


def _apply_profiles(stack: _Stack, ratio: list, why: list, warnings: list) -> None:
    """Step 2: each LoRA's profile multiplies its ratios (noted on the entry); unknown labels warn."""
    for i, e in enumerate(stack.entries):
        blocks = {b for p in stack.positions[i] for b in p.split("+")}
        applied, unknown = _apply_profile(e.profile or {}, blocks, ratio[i], why[i])
        if unknown:
            warnings.append(f"{e.path}: profile{_named(e)} names block(s) this file does not have: "
                            f"{', '.join(unknown)} (ignored)")
        e.notes.extend(applied)


def _position_values(positions: list, ratio: list, why: list):
    """Step 3: one value per vector position (run-length merged positions take the smallest).
    Returns (per LoRA {position: ratio}, per LoRA {block: the ratio Inspire applies})."""
    values = []
    for i, pos in enumerate(positions):
        at = {}
        for p in pos:
            parts = p.split("+")
            vals = [ratio[i].get(b, 1.0) for b in parts]
            at[p] = min(vals)
            if len(set(vals)) > 1:
                for b in parts:
                    why[i][b] = why[i].get(b, "") + f"; shares position {p} (Inspire run-length rule): smallest ratio"
        values.append(at)
    applied = [{b: values[i][p] for p in positions[i] for b in p.split("+")} for i in range(len(positions))]
    return values, applied


def _encoder_factors(stack: _Stack, rules: Policy):
    """Step 4: text encoders budgeted like blocks, with the clip strengths. Returns (unit per
    encoder, per LoRA its smallest encoder factor or None)."""
    n = len(stack.entries)
    te_units, te_factor = {}, [None] * n
    for name, G in stack.te_g.items():
        members = [i for i in range(n) if G[i][i] > 0 and stack.k[i] != 0]
        unit = te_units[name] = budget_unit(G, stack.k, members, stack.roles, rules)
        for i in members:
            te_factor[i] = unit["factors"][i] if te_factor[i] is None else min(te_factor[i], unit["factors"][i])
    return te_units, te_factor


def _named(e) -> str:
    return f" '{e.profile_name}'" if e.profile_name else ""


def _apply_profile(profile: dict, blocks: set, ratio: dict, why: dict):
    """Multiply ratios by the profile (exact label over group). Returns (notes, unknown keys)."""
    notes, unknown = [], []
    groups = {b.rstrip("0123456789") for b in blocks}
    for key in sorted(profile):
        if key not in blocks and not (key in PROFILE_GROUPS and key in groups):
            unknown.append(key)
    for b in sorted(blocks):
        group = b.rstrip("0123456789")
        key = b if b in profile else group if group in profile else None
        if key is None:
            continue
        mult = float(profile[key])
        r = ratio.get(b, 1.0)
        ratio[b] = quantize(r * mult)
        why[b] = (why.get(b, "unchanged") + f"; profile {key} ×{canonical_number(mult)}")
        used = f"{key} ×{canonical_number(mult)}"
        if used not in notes:
            notes.append(used)
    return (["profile applied: " + ", ".join(notes)] if notes else []), unknown

