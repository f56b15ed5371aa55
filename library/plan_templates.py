"""Plan templates: a policy, headroom, role order and per-role profiles, reused by name.

Template: {"policy", "headroom", "role_order", "profiles": {ROLE: {BLOCK: mult} or "profile name"}};
a template's profile applies to every LoRA of that role that has no profile of its own.
"""

from __future__ import annotations

from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, check_number, validate_options
from .errors import InvalidDocument
from .named_documents import NamedDocuments
from .profiles import check_multipliers, check_name, load_profile
from .roles import role_of_file

_TEMPLATES = NamedDocuments("plan_templates", "template")


def check_template(doc) -> dict:
    """A template with defaults filled in; InvalidDocument listing every problem."""
    if not isinstance(doc, dict):
        raise InvalidDocument(["template: expected {policy, headroom, role_order, profiles}"])
    problems = [f"template: unknown field {k!r}" for k in sorted(set(doc) - {"policy", "headroom", "role_order", "profiles"})]
    policy = doc.get("policy") or DEFAULT_POLICY
    headroom, why = check_number(DEFAULT_HEADROOM if doc.get("headroom") is None else doc["headroom"], "headroom")
    role_order = doc.get("role_order") or list(DEFAULT_ROLE_ORDER)
    if why or not isinstance(role_order, (list, tuple)) or not all(isinstance(r, str) for r in role_order):
        problems.append(why or "role_order: expected a list of role names")
    else:
        problems += validate_options(policy, headroom, tuple(role_order))
    profiles = {}
    for role, value in (doc.get("profiles") or {}).items():
        if isinstance(value, str):
            profiles[str(role)] = value
            continue
        try:
            profiles[str(role)] = check_multipliers(value, f"template profile for {role}")
        except InvalidDocument as exc:
            problems += exc.problems
    if problems:
        raise InvalidDocument(problems)
    return {"policy": policy, "headroom": headroom, "role_order": list(role_order),
            "profiles": dict(sorted(profiles.items()))}


def save_template(store, name: str, template: dict) -> dict:
    name = check_name(name, "template")
    doc = check_template(template)
    _TEMPLATES.save(store, name, doc)
    return {"name": name, **doc}


def load_template(store, name: str) -> dict:
    return _TEMPLATES.load(store, name)


def list_templates(store) -> list:
    return [{"name": name, **doc, "updated_at": at} for name, doc, at in _TEMPLATES.rows(store)]


def delete_template(store, name: str) -> None:
    _TEMPLATES.delete(store, name)


def apply_template(store, template: dict, specs, options: dict, explicit=()) -> dict:
    """plan_files options with the template's policy, headroom and role order (except those named
    in `explicit`, which the caller set) and its per-role profiles for LoRAs without their own.
    A profile name the store does not know raises NotFound."""
    out = dict(options)
    for key in ("policy", "headroom", "role_order"):
        if key not in explicit:
            out[key] = tuple(template[key]) if key == "role_order" else template[key]
    profiles = dict(out.get("profiles") or {})
    roles = out.get("roles") or {}
    for path, _, _ in specs:
        if path in profiles:
            continue
        role = roles.get(path) or role_of_file(path, out.get("root"))
        value = template["profiles"].get(role) if role else None
        if isinstance(value, str):
            profiles[path] = (value, load_profile(store, value))
        elif value:
            profiles[path] = (f"template profile for {role}", value)
    out["profiles"] = profiles
    return out
