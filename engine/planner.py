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
from .block_vectors import DECIMALS, a1111_lbw, canonical_number, inspire_vector, quantize
from .taxonomy import GROUP_ORDER

PLAN_SCHEMA_VERSION = 1
POLICIES = ("none", "balanced", "role-priority")
DEFAULT_POLICY = "balanced"
DEFAULT_HEADROOM = 0.5
MAX_HEADROOM = 10.0
DEFAULT_ROLE_ORDER = ("characters", "concepts", "poses", "styles")
STRENGTH_LIMIT = 10.0        # Inspire's strength_model / strength_clip range
PROFILE_GROUPS = ("BASE",) + GROUP_ORDER
_STEP = 10 ** DECIMALS
_SLACK = 1e-9                # relative tolerance of the budget checks (float sums)


class PlanError(ValueError):
    """A request the planner refuses; `problems` lists every reason (one line each)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


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
# The maths


def quadratic(G, w) -> float:
    """wᵀ G w (G a list of lists)."""
    n = len(w)
    return sum(w[i] * G[i][j] * w[j] for i in range(n) for j in range(n) if w[i] and w[j])


def floor_ratio(s: float) -> float:
    return 1.0 if s >= 1.0 else max(0.0, math.floor(s * _STEP) / _STEP)


def solve_tiers(G, weights, tiers, budget):
    """Common factor per tier (see the module docstring). `tiers` lists member indices by
    priority. Returns ({index: factor}, {index: tier number})."""
    factor, tier_of = {}, {}
    placed = {}                                    # index -> fixed weight
    for t, tier in enumerate(tiers):
        x = {i: weights[i] for i in tier}
        alpha = sum(x[i] * G[i][j] * x[j] for i in x for j in x)
        beta = sum(placed[i] * G[i][j] * x[j] for i in placed for j in x)
        kappa = sum(placed[i] * G[i][j] * placed[j] for i in placed for j in placed)
        if alpha + 2 * beta + kappa <= budget * (1 + _SLACK) or alpha <= 0:
            s = 1.0
        else:
            disc = max(beta * beta + alpha * (budget - kappa), 0.0)
            s = max(0.0, (-beta + math.sqrt(disc)) / alpha)
        s = floor_ratio(s)
        for i in tier:
            factor[i], tier_of[i] = s, t
            placed[i] = s * weights[i]
    return factor, tier_of


def _tiers(members, roles, policy, role_order):
    if policy != "role-priority":
        return [list(members)]
    rank = {r: k for k, r in enumerate(role_order)}
    by = {}
    for i in members:
        by.setdefault(rank.get(roles[i], len(role_order)), []).append(i)
    return [by[k] for k in sorted(by)]


def _budget_unit(G, weights, members, roles, policy, headroom, role_order):
    """Plan one block or text encoder: factors, tiers and the figures of the stack there."""
    n = len(weights)
    before = quadratic(G, weights)
    budget = (1 + headroom) * max((weights[i] ** 2 * G[i][i] for i in members), default=0.0)
    if policy == "none" or len(members) < 2:
        factors, tier_of = {i: 1.0 for i in members}, {i: 0 for i in members}
    else:
        factors, tier_of = solve_tiers(G, weights, _tiers(members, roles, policy, role_order), budget)
    return {"before": before, "budget": budget, "factors": factors, "tiers": tier_of, "n": n}


# ---------------------------------------------------------------------------------------------
# The plan


def make_plan(entries, gram: dict, *, policy: str = DEFAULT_POLICY, headroom: float = DEFAULT_HEADROOM,
              role_order=DEFAULT_ROLE_ORDER, excluded=(), warnings=()) -> dict:
    """The plan of a validated stack. `gram` is stack_gram's result for the entries' paths, in
    the same order. Raises PlanError for a request that cannot be planned."""
    role_order = tuple(role_order)
    problems = validate(entries, policy, headroom, role_order)
    if problems:
        raise PlanError(problems)
    warnings = list(warnings)
    n = len(entries)
    if n == 1:
        warnings.append("one LoRA alone: nothing to balance, its blocks keep ratio 1")
    roles = [e.role for e in entries]
    c = [float(e.strength_model) for e in entries]
    k = [float(e.clip) for e in entries]
    positions = [list(e.inspection.blocks) for e in entries]
    block_sets = [{b for p in pos for b in p.split("+")} for pos in positions]
    blocks_g = gram.get("blocks") or {}
    te_g = gram.get("text_encoders") or {}

    # 1. policy ratios per block label
    units = {}
    ratio = [dict() for _ in entries]
    why = [dict() for _ in entries]
    for label, G in blocks_g.items():
        members = [i for i in range(n) if G[i][i] > 0 and c[i] != 0]
        unit = units[label] = _budget_unit(G, c, members, roles, policy, headroom, role_order)
        for i in members:
            ratio[i][label] = unit["factors"][i]
            why[i][label] = _reason(unit, i, members, roles, policy, role_order)
    # 2. profiles on top
    for i, e in enumerate(entries):
        applied, unknown = _apply_profile(e.profile or {}, block_sets[i], ratio[i], why[i])
        if unknown:
            warnings.append(f"{e.path}: profile{_named(e)} names block(s) this file does not have: "
                            f"{', '.join(unknown)} (ignored)")
        e.notes.extend(applied)
    # 3. one value per vector position (run-length merged positions take the smallest)
    vec = []
    for i, pos in enumerate(positions):
        values = {}
        for p in pos:
            parts = p.split("+")
            vals = [ratio[i].get(b, 1.0) for b in parts]
            values[p] = min(vals)
            if len(set(vals)) > 1:
                for b in parts:
                    why[i][b] = why[i].get(b, "") + f"; shares position {p} (Inspire run-length rule): smallest ratio"
        vec.append(values)
    applied = [{b: vec[i][p] for p in positions[i] for b in p.split("+")} for i in range(n)]

    # 4. text encoders
    te_units, te_factor = {}, [None] * n
    for name, G in te_g.items():
        members = [i for i in range(n) if G[i][i] > 0 and k[i] != 0]
        unit = te_units[name] = _budget_unit(G, k, members, roles, policy, headroom, role_order)
        for i in members:
            te_factor[i] = unit["factors"][i] if te_factor[i] is None else min(te_factor[i], unit["factors"][i])
    has_te = [any(G[i][i] > 0 for G in te_g.values()) or bool(entries[i].inspection.text_encoder) for i in range(n)]

    loras = []
    for i, e in enumerate(entries):
        loras.append(_lora_out(e, i, positions[i], vec[i], applied[i], ratio[i], why[i], blocks_g, te_g,
                               te_factor[i], has_te[i], policy, warnings))
    stack = {"blocks": [_stack_row(label, units[label], blocks_g[label], c, applied, policy) for label in units],
             "text_encoders": [_stack_row(name, te_units[name], te_g[name], k,
                                          [{name: (lo["text_encoder_scale"] / k[i]) if k[i] else 0.0}
                                           for i, lo in enumerate(loras)], policy)
                               for name in te_units]}
    for row in stack["blocks"] + stack["text_encoders"]:
        if row["energy_after"] > row["budget"] * (1 + 1e-6) and policy != "none" and row["loras"] > 1:
            warnings.append(f"{row['name']}: combined energy {row['energy_after']:.6g} is above its budget "
                            f"{row['budget']:.6g} ({row['status']})")
    warnings += _naming_warnings(entries, blocks_g, gram.get("shared") or {})
    for e in entries:
        for w in e.inspection.warnings or ():
            if "Inspire" in w:
                warnings.append(f"{e.path}: {w}")
    plan = {
        "schema_version": PLAN_SCHEMA_VERSION,
        "policy": policy,
        "headroom": headroom,
        "role_order": list(role_order),
        "architecture": entries[0].inspection.architecture,
        "analysis_version": gram.get("analysis_version"),
        "loras": loras,
        "stack": stack,
        "excluded": list(excluded),
        "warnings": warnings,
    }
    return round_figures(plan, 6)


def _named(e) -> str:
    return f" '{e.profile_name}'" if e.profile_name else ""


def _reason(unit, i, members, roles, policy, role_order) -> str:
    if policy == "none":
        return "policy none: pass-through"
    if len(members) < 2:
        return "only LoRA in this block"
    s = unit["factors"][i]
    if unit["before"] <= unit["budget"] * (1 + _SLACK):
        return "stack within budget"
    if policy == "balanced":
        return f"stack over budget: common factor {canonical_number(s)} for the {len(members)} LoRAs here"
    role = roles[i] or "no role"
    if unit["tiers"][i] == 0 and s >= 1.0:
        return f"role-priority: {role} keeps its weight"
    if unit["tiers"][i] == 0:
        return f"role-priority: {role} alone exceeds the budget, factor {canonical_number(s)}"
    return f"role-priority: {role} shares what is left, factor {canonical_number(s)}"


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


def _lora_out(e, i, positions, vec, applied, ratio, why, blocks_g, te_g, te_factor, has_te, policy, warnings):
    c, k = float(e.strength_model), float(e.clip)
    notes = list(e.notes)
    base = vec["BASE"]
    # text encoders
    if policy == "none":
        tau = k
    elif not has_te:
        tau = 0.0
    else:
        tau = k * (1.0 if te_factor is None else te_factor)
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
    clip = quantize(math.copysign(math.floor(abs(clip) * _STEP + 1e-6) / _STEP, clip))
    te_scale = clip * base if has_te or policy == "none" else 0.0
    if has_te and base not in (0.0, 1.0):
        notes.append(f"BASE ratio {canonical_number(base)} also multiplies the text encoders in Inspire: strength_clip "
                     f"{canonical_number(clip)} × {canonical_number(base)} gives the intended scale {canonical_number(tau)}")
    vector, filler = inspire_vector(vec, positions)
    if filler:
        notes.append(f"{filler} filler entr{'y' if filler == 1 else 'ies'} ('1') pad the vector to Inspire's minimum "
                     f"of 12; Inspire ignores them")
    lbw, lbw_ids, lbw_notes = a1111_lbw(e.inspection.architecture, applied)
    rows = []
    for p in positions:
        for b in p.split("+"):
            G = blocks_g.get(b)
            own = G[i][i] if G is not None else 0.0
            r = applied[b]
            rows.append({"block": b, "position": p, "ratio": r, "energy_before": c * c * own,
                         "energy_after": (c * r) ** 2 * own,
                         "reason": why.get(b, "no measurable change here" if own == 0 else "unchanged")})
    te_rows = []
    for name, G in te_g.items():
        if G[i][i] > 0:
            te_rows.append({"name": name, "energy_before": k * k * G[i][i], "energy_after": te_scale ** 2 * G[i][i],
                            "scale": te_scale})
    stem = e.path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    a1111 = None
    if lbw is not None:
        a1111 = {"lbw": lbw, "ids": lbw_ids, "notes": lbw_notes,
                 "prompt": f"<lora:{stem}:{canonical_number(te_scale)}:{canonical_number(c)}:lbw={lbw}>"}
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
        "positions": positions,
        "filler": filler,
        "lbw": lbw,
        "a1111": a1111,
        "blocks": rows,
        "text_encoders": te_rows,
        "profile": {"name": e.profile_name, "multipliers": dict(sorted((e.profile or {}).items()))} if e.profile else None,
        "notes": notes,
    }


def _stack_row(name, unit, G, weights, applied, policy):
    n = len(weights)
    after_w = [weights[i] * applied[i].get(name, 1.0) for i in range(n)]
    after = quadratic(G, after_w)
    members = sorted(unit["factors"])
    if len(members) < 2:
        status = "one LoRA"
    elif unit["before"] <= unit["budget"] * (1 + _SLACK):
        status = "within budget"
    else:
        status = "scaled to budget"
    if after > unit["budget"] * (1 + 1e-6) and len(members) > 1:
        status = "over budget (policy none)" if policy == "none" else "over budget (profile or merged position)"
    return {"name": name, "loras": len(members), "energy_before": unit["before"], "budget": unit["budget"],
            "energy_after": after, "factors": [unit["factors"].get(i) for i in range(n)], "status": status}


def _naming_warnings(entries, blocks_g, shared) -> list:
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
