"""The ComfyUI face: graph nodes and the glue that attaches server/'s routes and events to
ComfyUI (comfy_glue.py). The only package that imports ComfyUI, and only lazily: importing it
loads no ComfyUI module, no torch and no library.

A new node: a file here with the node class and its NODE_CLASS_MAPPINGS, added to _FAMILIES; it
reaches the library through `comfy_glue.get_state()`.

Node API: V1 (`NODE_CLASS_MAPPINGS`), which every ComfyUI version loads (0.3.64 ignores a V3
`comfy_entrypoint` when `NODE_CLASS_MAPPINGS` exists, so the pack exports only V1).

Inside ComfyUI, `register()` attaches the routes to `PromptServer.instance.routes` (ComfyUI then
serves them at /lora-atlas/... and /api/lora-atlas/...).
"""

from __future__ import annotations

from . import analyzer, apply_plan, block_grid, browser, planner, save_preview, stack

_FAMILIES = (browser, analyzer, planner, apply_plan, stack, block_grid, save_preview)

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
for _family in _FAMILIES:
    NODE_CLASS_MAPPINGS.update(_family.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_family.NODE_DISPLAY_NAME_MAPPINGS)


def register() -> bool:
    """Attach the routes when running inside ComfyUI (no-op elsewhere); True if attached."""
    from .comfy_glue import register_routes
    return register_routes()
