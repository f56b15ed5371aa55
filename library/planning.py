"""The one way to plan a stack: every face (CLI, `POST /lora-atlas/plan`, `POST /lora-atlas/plans`,
the Planner node) hands a PlanRequest to `plan_request`.

    result = plan_request(request, store, root, save_as="duo")
    result.plan, result.saved_id, result.notes

In a library (`store` and `root` given): saved profiles, templates and saved plans are read from the
store; the figures are warm from the store's cache and the new ones are kept; the plan is appended
to the history (`history=True`) and saved as `save_as`, all in one transaction. Without a library
the plan is computed alone. Every problem of the request is reported at once as one PlanError;
nothing is written then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..engine.plan_cache import PlanCache
from ..engine.plan_stack import plan_files
from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, PlanError, check_number
from .errors import NotFound
from .plan_cache_store import persist_cache, rel_to_root, stable_ids, warm_cache
from .plan_requests import LoraRequest, PlanRequest
from .plan_templates import apply_template, load_template
from .profiles import check_name, load_profile
from .roles import roles_of
from .saved_plans import append_history, load_saved, refuse_taken, save_plan


@dataclass
class PlanResult:
    plan: dict
    inputs: dict
    saved_id: int | None = None
    notes: list = field(default_factory=list)      # what a saved plan's files did since (moved, ...)


def make_inputs(specs, ids: dict, *, policy=DEFAULT_POLICY, headroom=DEFAULT_HEADROOM, role_order=DEFAULT_ROLE_ORDER,
                root=None, roles=None, profiles=None) -> dict:
    """The request as it is kept with a saved or history plan (library/saved_plans.py)."""
    loras = []
    for path, strength, clip in specs:
        sm = check_number(1.0 if strength is None else strength, "strength")[0]
        sc = None if clip is None else check_number(clip, "clip")[0]
        name, mults = (profiles or {}).get(path, (None, None))
        loras.append({"given": path, "path": os.path.abspath(path), "rel": rel_to_root(root, path), "id": ids.get(path),
                      "strength_model": sm, "strength_clip": sc, "role": (roles or {}).get(path),
                      "profile": {"name": name, "multipliers": dict(sorted(mults.items()))} if mults else None})
    return {"loras": loras, "policy": policy, "headroom": headroom, "role_order": list(role_order),
            "root": os.path.abspath(root) if root else None}


def plan_request(request: PlanRequest, store=None, root: str | None = None, *, save_as: str | None = None,
                 history: bool = True, cache: PlanCache | None = None) -> PlanResult:
    """Plan `request` (see the module docstring). Raises PlanError (every problem), NameTaken."""
    problems, notes = list(request.problems), []
    if save_as is not None:
        if store is None:
            raise PlanError(["saving a plan needs a library: give its root"])
        save_as = check_name(save_as, "plan")
        refuse_taken(store, save_as)
    loras, options = _from_saved(request, store, root, problems, notes) if request.from_plan else ([], {})
    loras += request.loras
    options.update({k: getattr(request, k) for k in request.explicit()})
    options = {"policy": DEFAULT_POLICY, "headroom": DEFAULT_HEADROOM, "role_order": DEFAULT_ROLE_ORDER} | options
    options["role_order"] = tuple(options["role_order"])
    specs = [lo.spec() for lo in loras]
    overrides = {lo.path: lo.role for lo in loras if lo.role is not None}
    profiles = _profiles(loras, store, problems)
    if request.template:
        options = _with_template(request, store, root, specs, options, overrides, profiles, problems)
    else:
        options["profiles"] = profiles
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    paths = [s[0] for s in specs]
    roles = roles_of(paths, root, overrides)
    if store is None:
        plan = plan_files(specs, roles=roles, cache=cache, **options)
        return PlanResult(plan, make_inputs(specs, {}, root=root, roles=overrides, **options), None, notes)
    ids = stable_ids(store, root, paths)
    cache = warm_cache(store, paths, ids, cache)
    plan = plan_files(specs, roles=roles, cache=cache, **options)
    inputs = make_inputs(specs, ids, root=root, roles=overrides, **options)
    saved = None
    with store.atomic():
        persist_cache(store, paths, ids, cache)
        if save_as is not None:
            saved = save_plan(store, save_as, plan, inputs)
        if history:
            append_history(store, plan, inputs, saved)
    return PlanResult(plan, inputs, saved, notes)


def _from_saved(request, store, root, problems, notes):
    """(LoRA requests, options) of the saved plan `request.from_plan` (moved files at their new path)."""
    if store is None:
        problems.append("a saved plan needs a library: give its root")
        return [], {}
    try:
        saved = load_saved(store, request.from_plan, root)
    except NotFound as exc:
        problems.append(f"saved plan: {exc}")
        return [], {}
    gone = [p for p in saved.problems if any(p.startswith(m) for m in saved.missing)]
    notes += [p for p in saved.problems if p not in gone]
    problems += [f"saved plan {saved.name}: {p}" for p in gone]
    loras = []
    for lo in saved.inputs["loras"]:
        if lo["given"] in saved.missing:
            continue
        profile = lo.get("profile")
        loras.append(LoraRequest(lo["path"], lo["strength_model"], lo["strength_clip"], lo.get("role") or None,
                                 (profile["name"], profile["multipliers"]) if profile else None))
    inputs = saved.inputs
    return loras, {"policy": inputs["policy"], "headroom": inputs["headroom"], "role_order": inputs["role_order"]}


def _profiles(loras, store, problems) -> dict:
    """path -> (name, {block: mult}): inline multipliers as given, saved ones read from the store."""
    out = {}
    for lo in loras:
        if lo.profile is None:
            continue
        if isinstance(lo.profile, tuple):                 # (name, multipliers) kept with a saved plan
            out[lo.path] = lo.profile
        elif isinstance(lo.profile, dict):
            out[lo.path] = (lo.where, lo.profile)
        elif store is None:
            problems.append(f"{lo.where}: {lo.profile!r} names a saved profile, which needs a library (give its root)")
        else:
            try:
                out[lo.path] = (lo.profile, load_profile(store, lo.profile))
            except NotFound as exc:
                problems.append(f"{lo.where}: {exc}{lo.hint}")
    return out


def _with_template(request, store, root, specs, options, overrides, profiles, problems) -> dict:
    if store is None:
        problems.append("a template needs a library: give its root")
        return options | {"profiles": profiles}
    try:
        template = load_template(store, request.template)
        out = apply_template(store, template, specs, options | {"profiles": profiles, "roles": overrides, "root": root},
                             request.explicit())
    except NotFound as exc:
        problems.append(f"template {request.template}: {exc}")
        return options | {"profiles": profiles}
    return {k: out[k] for k in ("policy", "headroom", "role_order", "profiles")}


def plan_and_record(store, root, specs, *, save_as: str | None = None, history: bool = True,
                    cache: PlanCache | None = None, policy=None, headroom=None, role_order=None, roles=None,
                    profiles=None):
    """(plan, saved id or None) of (path, strength_model, strength_clip) triples: `plan_request`
    for Python callers (benchmarks, tests). `profiles` maps a path to (name, {block: mult})."""
    roles, profiles = roles or {}, profiles or {}
    request = PlanRequest([LoraRequest(path, sm, sc, roles.get(path), profiles.get(path)) for path, sm, sc in specs],
                          policy=policy, headroom=headroom, role_order=None if role_order is None else tuple(role_order))
    result = plan_request(request, store, root, save_as=save_as, history=history, cache=cache)
    return result.plan, result.saved_id
