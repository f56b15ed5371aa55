"""LoRA Stack helpers: build a `LORA_STACK` ((lora_name, strength_model, strength_clip) list, the
type other packs use) in the graph, and turn a `LORA_PLAN` back into one (planned strengths)."""

from __future__ import annotations

from . import comfy_glue

MAX_STACK = 32


def stack_entries(stack) -> list:
    """A LORA_STACK checked: a list of (name, strength_model, strength_clip)."""
    out = []
    for entry in stack or []:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2:
            raise ValueError(f"LORA_STACK entry {entry!r}: expected (lora_name, strength_model, strength_clip)")
        name, sm = entry[0], float(entry[1])
        sc = float(entry[2]) if len(entry) > 2 and entry[2] is not None else sm
        if name and name != "None":
            out.append((name, sm, sc))
    return out


class LoraAtlasStack:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = "Add one LoRA to a LORA_STACK (chain several to build a stack)."
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("lora_stack",)
    FUNCTION = "add"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "lora_name": (["None", *comfy_glue.lora_names()],),
            "strength_model": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}),
            "strength_clip": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}),
        }, "optional": {"lora_stack": ("LORA_STACK",)}}

    def add(self, lora_name, strength_model, strength_clip, lora_stack=None):
        stack = stack_entries(lora_stack)
        if lora_name and lora_name != "None":
            if len(stack) >= MAX_STACK:
                raise ValueError(f"a LORA_STACK holds at most {MAX_STACK} LoRAs")
            stack.append((lora_name, float(strength_model), float(strength_clip)))
        return (stack,)


class LoraAtlasPlanToStack:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = "A LORA_PLAN's LoRAs with their planned strengths as a LORA_STACK (block weights not included)."
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("lora_stack",)
    FUNCTION = "convert"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"lora_plan": ("LORA_PLAN",)}}

    def convert(self, lora_plan):
        return ([(lo["lora_name"], lo["strength_model"], lo["strength_clip"]) for lo in lora_plan["loras"]],)


NODE_CLASS_MAPPINGS = {"LoraAtlasStack": LoraAtlasStack, "LoraAtlasPlanToStack": LoraAtlasPlanToStack}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasStack": "LoRA Stack (LoRA Atlas)",
                              "LoraAtlasPlanToStack": "LoRA Plan to Stack (LoRA Atlas)"}
