"""The budget arithmetic of a plan, one block or text encoder at a time: the stack's energy wᵀGw,
its budget, the common factor of each role tier, and why a LoRA got its factor. Numbers in,
numbers out; the notation and the policies are in engine.planner's docstring, which decides what
to budget, and engine.plan_output reports the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .block_vectors import DECIMALS, canonical_number

STEP = 10 ** DECIMALS
SLACK = 1e-9                 # relative tolerance of the budget checks (float sums)


@dataclass(frozen=True)
class Policy:
    """A request's planning options, checked by engine.planner.validate_options."""

    name: str                # one of engine.planner.POLICIES
    headroom: float
    role_order: tuple        # roles by priority (role-priority tiers)


def quadratic(G, w) -> float:
    """wᵀ G w (G a list of lists)."""
    n = len(w)
    return sum(w[i] * G[i][j] * w[j] for i in range(n) for j in range(n) if w[i] and w[j])


def floor_ratio(s: float) -> float:
    return 1.0 if s >= 1.0 else max(0.0, math.floor(s * STEP) / STEP)


def solve_tiers(G, weights, tiers, budget):
    """Common factor per tier (see engine.planner's docstring). `tiers` lists member indices by
    priority. Returns ({index: factor}, {index: tier number})."""
    factor, tier_of = {}, {}
    placed = {}                                    # index -> fixed weight
    for t, tier in enumerate(tiers):
        x = {i: weights[i] for i in tier}
        alpha = sum(x[i] * G[i][j] * x[j] for i in x for j in x)
        beta = sum(placed[i] * G[i][j] * x[j] for i in placed for j in x)
        kappa = sum(placed[i] * G[i][j] * placed[j] for i in placed for j in placed)
        if alpha + 2 * beta + kappa <= budget * (1 + SLACK) or alpha <= 0:
            s = 1.0
        else:
            disc = max(beta * beta + alpha * (budget - kappa), 0.0)
            s = max(0.0, (-beta + math.sqrt(disc)) / alpha)
        s = floor_ratio(s)
        for i in tier:
            factor[i], tier_of[i] = s, t
            placed[i] = s * weights[i]
    return factor, tier_of


def _tiers(members, roles, policy: Policy):
    if policy.name != "role-priority":
        return [list(members)]
    rank = {r: k for k, r in enumerate(policy.role_order)}
    by = {}
    for i in members:
        by.setdefault(rank.get(roles[i], len(policy.role_order)), []).append(i)
    return [by[k] for k in sorted(by)]


def budget_unit(G, weights, members, roles, policy: Policy) -> dict:
    """Plan one block or text encoder: factors, tiers and the figures of the stack there."""
    n = len(weights)
    before = quadratic(G, weights)
    budget = (1 + policy.headroom) * max((weights[i] ** 2 * G[i][i] for i in members), default=0.0)
    if policy.name == "none" or len(members) < 2:
        factors, tier_of = {i: 1.0 for i in members}, {i: 0 for i in members}
    else:
        factors, tier_of = solve_tiers(G, weights, _tiers(members, roles, policy), budget)
    return {"before": before, "budget": budget, "factors": factors, "tiers": tier_of, "n": n}


def factor_reason(unit, i, members, roles, policy: Policy) -> str:
    """Why LoRA `i` got its factor in this unit (a block's `reason` in the plan)."""
    if policy.name == "none":
        return "policy none: pass-through"
    if len(members) < 2:
        return "only LoRA in this block"
    s = unit["factors"][i]
    if unit["before"] <= unit["budget"] * (1 + SLACK):
        return "stack within budget"
    if policy.name == "balanced":
        return f"stack over budget: common factor {canonical_number(s)} for the {len(members)} LoRAs here"
    role = roles[i] or "no role"
    if unit["tiers"][i] == 0 and s >= 1.0:
        return f"role-priority: {role} keeps its weight"
    if unit["tiers"][i] == 0:
        return f"role-priority: {role} alone exceeds the budget, factor {canonical_number(s)}"
    return f"role-priority: {role} shares what is left, factor {canonical_number(s)}"
