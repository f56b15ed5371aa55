"""The one plan request: what every face (CLI, `POST /lora-atlas/plan`, the Planner node, the
panel) asks the planner for, and the one reader of its JSON form.

    request = PlanRequest([LoraRequest("/loras/styles/ink.safetensors", 0.8)], policy="balanced")
    request = PlanRequest.from_json(body, resolve)     # InvalidDocument listing every problem

JSON form (the routes and the panel): {"loras": [{"id" | "path" | "lora_name", "root",
"strength_model", "strength_clip", "role", "profile"}], "policy", "headroom", "role_order",
"template"}; `profile` is a saved profile's name or {BLOCK: multiplier}. `resolve(entry, where)`
is the face's lookup of a LoRA entry to (real path, role): by stable id in the listing, or a path
confined to the LoRA roots.

Fields left None take the template's value, else the planner's default. Faces parse their own
syntax into this type, noting what they could not parse in `problems`; library/planning.py then
reports every problem of the request at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InvalidDocument
from .profiles import check_multipliers

MAX_LORAS = 32
_LORA_KEYS = {"id", "path", "lora_name", "root", "strength_model", "strength_clip", "role", "profile"}
_BODY_KEYS = {"loras", "policy", "headroom", "role_order", "template"}


@dataclass
class LoraRequest:
    path: str                          # as the face gives it (routes and nodes: the real path)
    strength_model: object = None      # number or text; None = 1
    strength_clip: object = None       # None = follow strength_model (0 for UNet-only files)
    role: str | None = None            # an explicit role; None = the LoRA's category folder
    profile: object = None             # a saved profile's name, or {BLOCK: multiplier}
    where: str = ""                    # how the face names this LoRA's profile in messages
    hint: str = ""                     # what the face adds when a profile name is unknown

    def spec(self) -> tuple:
        return self.path, self.strength_model, self.strength_clip


@dataclass
class PlanRequest:
    loras: list = field(default_factory=list)
    policy: str | None = None
    headroom: object = None
    role_order: tuple | None = None
    template: str | None = None        # a saved template's name
    from_plan: str | None = None       # a saved plan whose LoRAs come first
    problems: list = field(default_factory=list)

    def explicit(self) -> set:
        """The options the request sets itself (a template does not override them)."""
        return {k for k in ("policy", "headroom", "role_order") if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, body, resolve) -> "PlanRequest":
        """The request of a JSON body; InvalidDocument listing every problem found."""
        if not isinstance(body, dict):
            raise InvalidDocument(["expected a JSON object {\"loras\": [...], \"policy\": ...}"])
        loras = body.get("loras")
        if not isinstance(loras, list) or not loras:
            raise InvalidDocument(["loras: expected a non-empty list of {\"id\" or \"path\", \"strength_model\", "
                                   "\"strength_clip\"}"])
        if len(loras) > MAX_LORAS:
            raise InvalidDocument([f"loras: at most {MAX_LORAS} LoRAs in one plan"])
        request = cls(problems=[f"unknown field {k!r}" for k in sorted(set(body) - _BODY_KEYS)])
        for n, entry in enumerate(loras):
            lora = _lora_from_json(entry, f"loras[{n}]", resolve, request.problems)
            if lora is not None:
                request.loras.append(lora)
        request.policy = _typed(body, "policy", str, "policy: expected text", request.problems)
        request.headroom = _typed(body, "headroom", (int, float), "headroom: expected a number", request.problems)
        request.template = _typed(body, "template", str, "template: expected the name of a saved template",
                                  request.problems)
        role_order = body.get("role_order")
        if role_order is not None:
            if not isinstance(role_order, list) or not all(isinstance(r, str) for r in role_order):
                request.problems.append("role_order: expected a list of role names")
            else:
                request.role_order = tuple(role_order)
        if request.problems:
            raise InvalidDocument(list(dict.fromkeys(request.problems)))
        return request


def _typed(body: dict, key: str, kind, problem: str, problems: list):
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        problems.append(problem)
        return None
    return value


def _number(value, what: str, problems: list):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{what}: expected a number, got {type(value).__name__}")
        return None
    try:
        return float(value)
    except OverflowError:                # a JSON integer of thousands of digits: no float holds it
        problems.append(f"{what}: a number too large ({len(str(abs(value)))} digits)")
        return None


def _lora_from_json(entry, where: str, resolve, problems: list):
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected an object")
        return None
    problems += [f"{where}: unknown field {k!r}" for k in sorted(set(entry) - _LORA_KEYS)]
    if not {"id", "path", "lora_name"} & set(entry):
        problems.append(f"{where}: give \"id\", \"path\" or \"lora_name\"")
        found = None
    else:
        found = resolve(entry, where)
    sm = _number(entry.get("strength_model", 1.0), f"{where}.strength_model", problems)
    sc = _number(entry.get("strength_clip"), f"{where}.strength_clip", problems)
    if found is None:
        return None
    path, role = found
    role = entry.get("role", role)
    if role is not None and not isinstance(role, str):
        problems.append(f"{where}.role: expected text")
    profile = entry.get("profile")
    if profile is not None and not isinstance(profile, str):
        try:
            profile = check_multipliers(profile, f"{where}.profile")
        except InvalidDocument as exc:
            problems += exc.problems
            profile = None
    return LoraRequest(path, 1.0 if sm is None else sm, sc, role, profile, f"{where}.profile")
