"""LoRA Atlas: a ComfyUI custom node pack and the `lora_atlas` Python package.

As a ComfyUI custom-node folder this module only wires node mappings, the web directory and the
routes; it must stay cheap to import (no scanning, no torch work), so ComfyUI starts as fast as
before. Outside ComfyUI (the CLI, tests) the route registration is a no-op.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, register as _register

from .version import __version__

WEB_DIRECTORY = "./web"

_register()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY", "__version__"]
