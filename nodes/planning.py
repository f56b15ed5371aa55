"""Plan requests from the routes and the Planner node: validate, resolve LoRAs inside the roots,
call `engine.plan_stack.plan_files` (the same function as `lora-atlas plan --json`), export.

    body = {"loras": [{"id" or "path" or "lora_name", "strength_model", "strength_clip"}], "policy": "balanced"}
    plan = compute(service, body)
"""

from __future__ import annotations

import os

from .errors import ApiError
from .service import confine

MAX_LORAS = 32
EXPORT_FORMATS = ("json", "csv", "text", "inspire", "a1111")
_LORA_KEYS = {"id", "path", "lora_name", "root", "strength_model", "strength_clip", "role", "profile"}
_BODY_KEYS = {"loras", "policy", "headroom", "role_order"}


def _number(value, what: str, problems: list):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{what}: expected a number, got {type(value).__name__}")
        return None
    return float(value)


def resolve(service, entry: dict, n: int, problems: list):
    """(real path, role) of one requested LoRA, or None with the problem noted."""
    where = f"loras[{n}]"
    if "id" in entry:
        found = service.find(entry["id"])
        item = found[0]
        return service.full_path(item), item["role"]
    key = "path" if "path" in entry else "lora_name" if "lora_name" in entry else None
    if key is None:
        problems.append(f"{where}: give \"id\", \"path\" or \"lora_name\"")
        return None
    root = entry.get("root")
    i, rel, real = confine(service.roots(), entry[key], root)
    from ..library.roles import role_at
    return real, role_at(rel, os.path.dirname(real))


def request(service, body) -> tuple[list, dict]:
    """(specs, plan_files options) from a request body; ApiError(400) listing every problem."""
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object {\"loras\": [...], \"policy\": ...}")
    problems = [f"unknown field {k!r}" for k in sorted(set(body) - _BODY_KEYS)]
    loras = body.get("loras")
    if not isinstance(loras, list) or not loras:
        raise ApiError(400, "loras: expected a non-empty list of {\"id\" or \"path\", \"strength_model\", \"strength_clip\"}")
    if len(loras) > MAX_LORAS:
        raise ApiError(400, f"loras: at most {MAX_LORAS} LoRAs in one plan")
    from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER
    specs, roles, profiles = [], {}, {}
    saved_profiles = None
    for n, entry in enumerate(loras):
        if not isinstance(entry, dict):
            problems.append(f"loras[{n}]: expected an object")
            continue
        problems += [f"loras[{n}]: unknown field {k!r}" for k in sorted(set(entry) - _LORA_KEYS)]
        found = resolve(service, entry, n, problems)
        sm = _number(entry.get("strength_model", 1.0), f"loras[{n}].strength_model", problems)
        sc = _number(entry.get("strength_clip"), f"loras[{n}].strength_clip", problems)
        if found is None:
            continue
        path, role = found
        role = entry.get("role", role)
        if role is not None and not isinstance(role, str):
            problems.append(f"loras[{n}].role: expected text")
        roles[path] = role
        profile = entry.get("profile")
        if isinstance(profile, str):
            if saved_profiles is None:
                saved_profiles = service.profiles()
            if profile not in saved_profiles:
                problems.append(f"loras[{n}].profile: no saved profile named {profile!r}")
            else:
                profiles[path] = (profile, saved_profiles[profile])
        elif profile is not None:
            from ..library.errors import InvalidDocument
            from ..library.profiles import check_multipliers
            try:
                profiles[path] = (f"loras[{n}].profile", check_multipliers(profile, f"loras[{n}].profile"))
            except InvalidDocument as exc:
                problems += exc.problems
        specs.append((path, 1.0 if sm is None else sm, sc))
    policy = body.get("policy", DEFAULT_POLICY)
    if not isinstance(policy, str):
        problems.append("policy: expected text")
    headroom = body.get("headroom", DEFAULT_HEADROOM)
    if isinstance(headroom, bool) or not isinstance(headroom, (int, float)):
        problems.append("headroom: expected a number")
    role_order = body.get("role_order", list(DEFAULT_ROLE_ORDER))
    if not isinstance(role_order, list) or not all(isinstance(r, str) for r in role_order):
        problems.append("role_order: expected a list of role names")
    if problems:
        raise ApiError(400, "; ".join(dict.fromkeys(problems)))
    return specs, dict(policy=policy, headroom=headroom, role_order=tuple(role_order), roles=roles,
                       profiles=profiles)


def compute(service, body) -> dict:
    """The plan, as `lora-atlas plan --json` prints it; ApiError(400) with the planner's reasons."""
    return compute_with_inputs(service, body)[0]


def compute_with_inputs(service, body) -> tuple[dict, list, dict]:
    """(plan, specs, plan_files options) of a request body."""
    from ..engine.plan_stack import plan_files
    from ..engine.planner import PlanError
    specs, options = request(service, body)
    try:
        return plan_files(specs, cache=service.plan_cache, **options), specs, options
    except PlanError as exc:
        raise ApiError(400, str(exc)) from None


def export(plan: dict, fmt: str) -> tuple[str, str]:
    """(content type, text) of a plan in `fmt` (EXPORT_FORMATS)."""
    if fmt in ("json", "csv"):
        from ..library.plans import export_plan
        return ("application/json" if fmt == "json" else "text/csv"), export_plan(plan, fmt)
    if fmt == "text":
        return "text/plain", plan_text(plan)
    if fmt == "inspire":
        lines = [f"{lo['path']}\tstrength_model={lo['strength_model']:g}\tstrength_clip={lo['strength_clip']:g}\t"
                 f"block_vector={lo['block_vector']}" for lo in plan["loras"]]
        return "text/plain", "\n".join(lines) + "\n"
    if fmt == "a1111":
        return "text/plain", " ".join(lo["a1111"]["prompt"] for lo in plan["loras"] if lo.get("a1111")) + "\n"
    raise ApiError(400, f"format: one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")


def plan_text(plan: dict) -> str:
    """A short human summary: one paragraph per LoRA, then the warnings."""
    lines = [f"plan: {len(plan['loras'])} LoRA(s), {plan['architecture']}, policy {plan['policy']}, "
             f"headroom {plan['headroom']:g}"]
    for lo in plan["loras"]:
        scaled = [f"{b['block']}={b['ratio']:g}" for b in lo["blocks"] if b["ratio"] != 1]
        lines += ["", f"{lo['path']}  (role: {lo.get('role') or '-'})",
                  f"  strength_model {lo['strength_model']:g}  strength_clip {lo['strength_clip']:g}",
                  f"  block_vector  {lo['block_vector']}",
                  "  scaled blocks: " + (", ".join(scaled) if scaled else "none")]
        lines += [f"  note: {n}" for n in lo.get("notes", [])]
    lines += [f"warning: {w}" for w in plan.get("warnings", [])]
    return "\n".join(lines)
