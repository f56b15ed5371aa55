"""LoRA Atlas Block Grid: one LoRA's effect per block group and strength, as one labelled IMAGE.

Rows are the file's block groups on their own (library/previews/grid.py `group_rows`: IN / MID /
OUT, or DOUBLE / SINGLE), columns the strengths; each cell is the LoRA applied through Apply LoRA
Plan's patching (nodes/apply_plan.py) with that row's Inspire vector at that strength (the text
encoder untouched), sampled with the same seed and prompt, decoded, then stitched with labels
(nodes/images.py). `lora-atlas previews FILE --grid` queues this node.
"""

from __future__ import annotations

import os

from . import comfy_glue


def _sampler_choices():
    """ComfyUI's samplers and schedulers (a stand-in pair outside ComfyUI, where nothing samples)."""
    try:
        import comfy.samplers
    except ImportError:
        return ["euler"], ["normal"]
    return comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS


def block_grid(model, clip, vae, lora_name, positive, negative, seed, steps, cfg, sampler_name, scheduler,
               width, height, strengths):
    import nodes as comfy_nodes
    from ..engine.inspect import inspect_file
    from ..library.errors import InvalidDocument
    from ..library.previews.grid import group_rows, parse_strengths
    from .apply_plan import apply_plan
    from .images import labelled_grid, to_pil
    path = comfy_glue.lora_path(lora_name)
    found = inspect_file(path)
    if not found.ok or not found.blocks:
        raise ValueError(f"{lora_name}: {found.error or 'no block of this file is known'}")
    rows = group_rows(found.blocks)
    if not rows:
        raise ValueError(f"{lora_name}: its {found.architecture} blocks have no groups to compare")
    try:
        values = parse_strengths(strengths)
    except InvalidDocument as exc:
        raise ValueError("; ".join(exc.problems)) from None
    cond = comfy_nodes.CLIPTextEncode().encode(clip, positive)[0]
    uncond = comfy_nodes.CLIPTextEncode().encode(clip, negative)[0]
    latent = comfy_nodes.EmptyLatentImage().generate(width, height, 1)[0]
    cells = []
    for _group, vector in rows:
        row = []
        for strength in values:
            plan = {"loras": [{"path": path, "strength_model": strength, "strength_clip": 0.0,
                               "positions": found.blocks, "block_vector": vector, "architecture": found.architecture}]}
            patched, _ = apply_plan(model, None, plan)
            samples = comfy_nodes.common_ksampler(patched, seed, steps, cfg, sampler_name, scheduler, cond, uncond,
                                                  latent)[0]
            row.append(to_pil(vae.decode(samples["samples"])))
        cells.append(row)
    title = f"{os.path.basename(lora_name)}: block groups x strength, seed {seed}"
    return labelled_grid(cells, [g for g, _ in rows], [f"{v:g}" for v in values], title)


class LoraAtlasBlockGrid:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = ("One LoRA per block group (IN/MID/OUT, DOUBLE/SINGLE) and strength, same seed and prompt: "
                   "a labelled grid image of what each part of the LoRA does.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("grid",)
    FUNCTION = "render"

    @classmethod
    def INPUT_TYPES(cls):
        samplers, schedulers = _sampler_choices()
        return {"required": {
            "model": ("MODEL",), "clip": ("CLIP",), "vae": ("VAE",),
            "lora_name": (comfy_glue.lora_names(),),
            "positive": ("STRING", {"multiline": True, "default": "best quality, detailed"}),
            "negative": ("STRING", {"multiline": True, "default": ""}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 200}),
            "cfg": ("FLOAT", {"default": 7.0, "min": 0.0, "max": 100.0, "step": 0.1}),
            "sampler_name": (samplers,), "scheduler": (schedulers,),
            "width": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 16}),
            "height": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 16}),
            "strengths": ("STRING", {"default": "0.5,1.0", "tooltip": "the columns, comma-separated"}),
        }}

    def render(self, model, clip, vae, lora_name, positive, negative, seed, steps, cfg, sampler_name, scheduler,
               width, height, strengths):
        from .images import to_image
        grid = block_grid(model, clip, vae, lora_name, positive, negative, seed, steps, cfg, sampler_name,
                          scheduler, width, height, strengths)
        return (to_image(grid),)


NODE_CLASS_MAPPINGS = {"LoraAtlasBlockGrid": LoraAtlasBlockGrid}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasBlockGrid": "LoRA Atlas Block Grid"}
