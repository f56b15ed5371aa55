"""Multi-LoRA Planner: a LORA_STACK and/or LoRA slots + a policy (+ optionally the MODEL, to check
the stack fits the loaded checkpoint) → per LoRA a block_vector for Inspire's "LoRA Loader (Block
Weight)" and its strengths, the plan as text, and a LORA_PLAN for Apply LoRA Plan. The plan is
library.planning.plan_request: the same as `lora-atlas plan --json`."""

from __future__ import annotations

import os

from . import comfy_glue
from .stack import stack_entries

SLOTS = 4
# ComfyUI model classes (comfy.supported_models) → LoRA Atlas architecture family, matched by name
# prefix in this order: newer bases whose class names extend an older one's (Flux2, HunyuanVideo15,
# ComfyUI 0.33.0) come first, so a Flux.1 or HunyuanVideo stack is refused on them.
_MODEL_FAMILY = (("Flux2", "flux2"), ("HunyuanVideo15", "hunyuan_video15"), ("SDXL", "sdxl"), ("SSD1B", "sdxl"),
                 ("Segmind", "sdxl"), ("KOALA", "sdxl"), ("SD15", "sd1"), ("SD20", "sd2"), ("SD21", "sd2"),
                 ("SD3", "sd3"), ("Flux", "flux"), ("Chroma", "flux"), ("WAN", "wan"),
                 ("HunyuanVideo", "hunyuan_video"), ("QwenImage", "qwen_image"), ("ZImage", "z_image"),
                 ("Lumina2", "lumina2"), ("LTXAV", "ltxv"), ("LTXV", "ltxv"), ("Kandinsky5", "kandinsky5"),
                 ("Krea2", "krea2"), ("Anima", "anima"),
                 ("HunyuanImage21", "hunyuan_image"), ("ErnieImage", "ernie_image"),
                 ("Omnigen2", "omnigen2"))


def model_family(model) -> str | None:
    """The architecture family of a loaded MODEL (ModelPatcher), or None if unknown."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    name = type(config).__name__ if config is not None else ""
    for prefix, family in _MODEL_FAMILY:
        if name.startswith(prefix):
            return family
    return None


def build_plan(specs: list, policy: str, headroom: float, model=None) -> dict:
    """A LORA_PLAN: {"plan": the plan JSON, "loras": [{lora_name, path, strengths, block_vector, positions}]},
    planned by library.planning like every other face (warm from the library's store, kept in its history)."""
    from ..engine.plan_stack import family
    from ..engine.planner import PlanError
    from ..library.errors import LibraryError
    from ..library.plan_requests import LoraRequest, PlanRequest
    from ..library.roles import role_at
    request, names = PlanRequest(policy=policy, headroom=headroom), {}
    for name, sm, sc in specs:
        path = comfy_glue.lora_path(name)
        names[path] = name
        request.loras.append(LoraRequest(path, sm, sc, role_at(name.replace(os.sep, "/"), os.path.dirname(path))))
    if not request.loras:
        raise ValueError("the plan is empty: connect a LORA_STACK or choose a LoRA in a slot")
    try:
        plan = comfy_glue.get_state().plan(request).plan
    except PlanError as exc:
        raise ValueError("cannot plan this stack: " + "; ".join(exc.problems)) from None
    except LibraryError as exc:
        raise ValueError(f"cannot plan this stack: {exc}") from None
    if model is not None:
        loaded = model_family(model)
        if loaded is not None and loaded != family(plan["architecture"]):
            raise ValueError(f"the stack is {plan['architecture']} but the MODEL is a {loaded} checkpoint: "
                             "these LoRAs would load few or no keys")
    return lora_plan(plan, names)


def lora_plan(plan: dict, names: dict | None = None) -> dict:
    """The LORA_PLAN object of a plan (plan_files output): per LoRA its ComfyUI name (`names`
    maps the plan's paths to them), path, strengths, block_vector and vector positions."""
    names = names or {}
    loras = [{"lora_name": names.get(lo["path"], lo["path"]), "path": lo["path"],
              "strength_model": lo["strength_model"], "strength_clip": lo["strength_clip"],
              "block_vector": lo["block_vector"], "positions": _positions(lo),
              "architecture": lo.get("architecture") or plan["architecture"]} for lo in plan["loras"]]
    return {"plan": plan, "loras": loras}


def _positions(lo: dict) -> list:
    """The file's vector positions in order (BASE, IN1, ..., "MID1+OUT1")."""
    out = []
    for b in lo["blocks"]:
        if b["position"] not in out:
            out.append(b["position"])
    return out


class LoraAtlasPlanner:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = ("Plan a multi-LoRA stack: per LoRA a strength and an Inspire block_vector so the stack stays "
                   "within an energy budget in every block. Feed LORA_PLAN to Apply LoRA Plan.")
    RETURN_TYPES = ("LORA_PLAN", "STRING", "LORA_STACK") + ("STRING", "FLOAT", "FLOAT") * SLOTS
    RETURN_NAMES = ("lora_plan", "plan_text", "lora_stack") + tuple(
        n for i in range(1, SLOTS + 1) for n in (f"block_vector_{i}", f"strength_model_{i}", f"strength_clip_{i}"))
    FUNCTION = "plan"

    @classmethod
    def INPUT_TYPES(cls):
        from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, POLICIES
        names = ["None", *comfy_glue.lora_names()]
        optional = {"lora_stack": ("LORA_STACK",), "model": ("MODEL", {"tooltip": "check the stack fits this checkpoint"})}
        for i in range(1, SLOTS + 1):
            optional[f"lora_{i}"] = (names, {"default": "None"})
            optional[f"strength_{i}"] = ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01})
        return {"required": {
            "policy": (list(POLICIES), {"default": DEFAULT_POLICY}),
            "headroom": ("FLOAT", {"default": DEFAULT_HEADROOM, "min": 0.0, "max": 10.0, "step": 0.05}),
        }, "optional": optional}

    @classmethod
    def VALIDATE_INPUTS(cls, **kw):
        """Slot names typed in must exist; linked ones (None here) are checked when planning."""
        for i in range(1, SLOTS + 1):
            name = kw.get(f"lora_{i}")
            if isinstance(name, str) and name != "None":
                try:
                    comfy_glue.lora_path(name)
                except ValueError as exc:
                    return f"lora_{i}: {exc}"
        return True

    @classmethod
    def IS_CHANGED(cls, **kw):
        parts = []
        for i in range(1, SLOTS + 1):
            name = kw.get(f"lora_{i}")
            if name and name != "None":
                try:
                    st = os.stat(comfy_glue.lora_path(name))
                    parts.append(f"{name}:{st.st_mtime_ns}")
                except (ValueError, OSError):
                    return float("nan")
        return "|".join(parts)

    def plan(self, policy, headroom, lora_stack=None, model=None, **slots):
        from ..library.plan_exports import plan_text
        specs = stack_entries(lora_stack)
        for i in range(1, SLOTS + 1):
            name = slots.get(f"lora_{i}")
            if name and name != "None":
                s = float(slots.get(f"strength_{i}", 1.0))
                specs.append((name, s, None))
        lora_plan = build_plan(specs, policy, headroom, model)
        outs = []
        for i in range(SLOTS):
            if i < len(lora_plan["loras"]):
                lo = lora_plan["loras"][i]
                outs += [lo["block_vector"], lo["strength_model"], lo["strength_clip"]]
            else:
                outs += ["", 0.0, 0.0]
        stack = [(lo["lora_name"], lo["strength_model"], lo["strength_clip"]) for lo in lora_plan["loras"]]
        text = plan_text(lora_plan["plan"])
        return {"ui": {"text": [text]}, "result": (lora_plan, text, stack, *outs)}


NODE_CLASS_MAPPINGS = {"LoraAtlasPlanner": LoraAtlasPlanner}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasPlanner": "Multi-LoRA Planner (LoRA Atlas)"}
