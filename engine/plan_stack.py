"""Plan a stack of LoRA files: check the files, gather their inspections and Gram entries (through
a PlanCache), then engine.planner.make_plan.

    cache = PlanCache()
    plan  = plan_files([("a.safetensors", 0.8, None), ...], policy="balanced", roles={...}, cache=cache)

Roles are data: the caller (the library, which knows folders) says which LoRA plays which role.
"""

from __future__ import annotations

import os

from .architecture import FAMILY
from .stack_rules import mixed_bases
from .plan_cache import PlanCache, file_key
from .planner import (DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, Entry, PlanError, check_number,
                      make_plan, validate_options)


def family(architecture: str) -> str:
    """The base-model family an architecture loads on (chroma is flux)."""
    return FAMILY.get(architecture, architecture)


def plan_files(specs, *, policy: str = DEFAULT_POLICY, headroom: float = DEFAULT_HEADROOM,
               role_order=DEFAULT_ROLE_ORDER, roles: dict | None = None, profiles: dict | None = None,
               cache: PlanCache | None = None) -> dict:
    """Plan a stack given as (path, strength_model, strength_clip or None) triples (strengths may
    be text). `roles` maps a path to its role (a path not in it has none); `profiles` maps a path
    to (name, {block: mult}). Bad files are excluded with their reason; every refusal is one
    PlanError listing them all."""
    cache = cache if cache is not None else PlanCache()
    problems = validate_options(policy, headroom, tuple(role_order))
    warnings, excluded, entries, keys = [], [], [], []
    seen = {}
    for path, strength, clip in specs:
        c, why_c = check_number(1.0 if strength is None else strength, f"{path}: strength")
        k, why_k = (None, None) if clip is None else check_number(clip, f"{path}: clip strength")
        problems += [w for w in (why_c, why_k) if w]
        real = os.path.realpath(path)
        if real in seen:
            problems.append(f"{path} is listed twice (also as {seen[real]}): give each LoRA once, with its strength")
            continue
        seen[real] = path
        if not os.path.isfile(path):
            excluded.append({"path": path, "error_code": "unreadable",
                             "reason": "not found" if not os.path.exists(path) else "not a file"})
            continue
        key = file_key(path)
        if cache.note_key(key):
            warnings.append(f"{path} changed since its figures were cached: recomputed")
        insp = cache.inspection(path, key)
        if not insp.ok:
            excluded.append({"path": path, "error_code": insp.error_code, "reason": insp.error})
            continue
        if insp.architecture == "unknown":
            excluded.append({"path": path, "error_code": "unknown_architecture",
                             "reason": "unknown architecture: not guessed (" + "; ".join(insp.evidence[:1]) + ")"})
            continue
        role = (roles or {}).get(path)
        name, mults = (profiles or {}).get(path, (None, None))
        entries.append(Entry(path, c if c is not None else 1.0, insp, k, role, mults, name))
        keys.append(key)
    for x in excluded:
        warnings.append(f"{x['path']}: excluded ({x['error_code']}): {x['reason']}")
    problems += _compatibility(entries, warnings)
    if not entries and not problems:
        problems.append("empty stack: no usable LoRA" + (" (every file was excluded)" if excluded else ""))
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    g = cache.gram([e.path for e in entries], keys)
    if not g["ok"]:
        raise PlanError([f"cannot measure the stack: {g['error']}"])
    return make_plan(entries, g, policy=policy, headroom=headroom, role_order=role_order, excluded=excluded,
                     warnings=warnings)


def _compatibility(entries, warnings) -> list:
    """All LoRAs must load on one base: one architecture family (chroma is flux). Within a
    family, bases that share key names are told apart by engine.stack_rules (SDXL's Pony and
    Illustrious, Chroma and Flux.1, WAN 2.1 and 2.2 ...): a refusal or a warning."""
    if not entries:
        return []
    first = entries[0]
    fam = family(first.inspection.architecture)
    problems = [f"{e.path} is {e.inspection.architecture}, but the stack is {first.inspection.architecture} "
                f"(from {first.path}): all LoRAs of a plan must load on one base model"
                for e in entries[1:] if family(e.inspection.architecture) != fam]
    if problems:
        return problems
    refusals, mixed = mixed_bases(fam, [e.inspection for e in entries])
    warnings.extend(mixed)
    return refusals
