"""Apply LoRA Plan: MODEL, CLIP, LORA_PLAN → MODEL, CLIP, through ComfyUI's own LoRA loading
(`comfy.utils.load_torch_file`, `comfy.lora_convert.convert_lora`, the key maps of
`comfy.lora.model_lora_keys_unet/clip`, `comfy.lora.load_lora`) and `add_patches` with each
patch's block strength.

Equal to chaining Inspire's "LoRA Loader (Block Weight)" with the plan's strings (a model patch
gets strength_model × the vector value of its block's position, a text-encoder patch
strength_clip × the BASE value, value 0 = not patched), except where Inspire drops patches: it
routes every key containing "text" or "encoder" to the text encoder, so SD3
`joint_blocks.N.context_block.*` and WAN `text_embedding.*` never reach the model; here a patch
goes to the model whenever it is a diffusion-model key. Files of special layouts (BFL control,
Wan-Fun, USO) are converted first, as ComfyUI's LoraLoader does and Inspire does not.
"""

from __future__ import annotations

MODEL_PREFIX = "diffusion_model."


def block_ratios(positions: list, block_vector: str) -> tuple[dict, float]:
    """({block label: value}, BASE value) for a file's positions and its vector string."""
    from ..engine.block_vectors import populate
    values = populate(block_vector, positions)
    by_label = {}
    for pos, value in zip(positions, values):
        for label in pos.split("+"):
            by_label[label] = value
    return by_label, values[0]


def patch_ratio(model_key: str, rules, by_label: dict, base: float) -> float:
    from ..engine.keys import normalize_module
    from ..engine.taxonomy import block_label, block_of
    module = model_key.rsplit(".", 1)[0] if model_key.endswith((".weight", ".bias")) else model_key
    label = block_label(block_of(normalize_module(module).flat, rules))
    return by_label.get(label, base)


def apply_plan(model, clip, lora_plan: dict):
    """(model clone, clip clone) with every LoRA of `lora_plan` patched in at its block strengths."""
    import comfy.lora
    import comfy.lora_convert
    import comfy.utils
    from ..engine.taxonomy import rules_for
    new_model = model.clone()
    new_clip = clip.clone() if clip is not None else None
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    if clip is not None:
        key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    for lo in lora_plan["loras"]:
        sm, sc = float(lo["strength_model"]), float(lo["strength_clip"])
        if sm == 0 and sc == 0:
            continue
        by_label, base = block_ratios(lo["positions"], lo["block_vector"])
        rules = rules_for(lo["architecture"])
        sd = comfy.lora_convert.convert_lora(comfy.utils.load_torch_file(lo["path"], safe_load=True))
        patches = comfy.lora.load_lora(sd, key_map)
        for key, patch in patches.items():
            target = key[0] if isinstance(key, tuple) else key
            if target.startswith(MODEL_PREFIX):
                ratio = patch_ratio(target[len(MODEL_PREFIX):], rules, by_label, base)
                if ratio != 0 and sm != 0:
                    new_model.add_patches({key: patch}, sm * ratio)
            elif new_clip is not None and base != 0 and sc != 0:
                new_clip.add_patches({key: patch}, sc * base)
        del sd, patches
    return new_model, new_clip


class LoraAtlasApplyPlan:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = ("Apply every LoRA of a LORA_PLAN with its per-block strengths (like chaining Inspire's "
                   "LoRA Loader (Block Weight), with SD3 context blocks and WAN text_embedding applied too).")
    RETURN_TYPES = ("MODEL", "CLIP")
    RETURN_NAMES = ("model", "clip")
    FUNCTION = "apply"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",), "lora_plan": ("LORA_PLAN",)}}

    def apply(self, model, clip, lora_plan):
        return apply_plan(model, clip, lora_plan)


NODE_CLASS_MAPPINGS = {"LoraAtlasApplyPlan": LoraAtlasApplyPlan}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasApplyPlan": "Apply LoRA Plan (LoRA Atlas)"}
