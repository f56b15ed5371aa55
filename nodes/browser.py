"""LoRA Library Browser: pick a LoRA from the index with filters; outputs its ComfyUI name,
default weight, trigger words, info (JSON) and preview IMAGE. The index is the server state's cached
listing, refreshed when the library changes; `IS_CHANGED` follows it and the file's mtime."""

from __future__ import annotations

import json
import os

from . import comfy_glue
from .any_type import ANY

PICK_FILTERS = "(use filters)"
ADAPTERS = ("any", "lora", "locon", "loha", "lokr", "glora", "oft", "boft", "full")
SORTS = ("path", "name", "architecture", "adapter", "role", "size", "-size")


def _architectures() -> list:
    from ..engine.architecture import ARCHITECTURES
    return ["any", *ARCHITECTURES]


def select(state, *, search="", architecture="any", role="", adapter="any", sort="path", index=0,
           lora_name=PICK_FILTERS) -> dict:
    """The chosen listing item; ValueError with a message when nothing matches."""
    from ..library.queries import query
    if lora_name and lora_name != PICK_FILTERS:
        item = state.by_lora_name(lora_name)
        if item is None:
            raise ValueError(f"{lora_name!r} is not in the LoRA Atlas index yet (a scan runs in the background)")
        return item
    total, page = query(state.index(), q=search or None, architecture=None if architecture == "any" else architecture,
                        role=role or None, adapter=None if adapter == "any" else adapter, ok="1", sort=sort,
                        offset=index, limit=1)
    if not page:
        raise ValueError(f"no LoRA matches these filters at index {index} ({total} match)"
                         + ("; the library is being scanned, queue again in a moment" if state.scanning else ""))
    return page[0]


class LoraAtlasBrowser:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = "Pick a LoRA from the LoRA Atlas index by search text and filters (the index-th match)."
    RETURN_TYPES = (ANY, "FLOAT", "STRING", "STRING", "IMAGE")
    RETURN_NAMES = ("lora_name", "default_weight", "trigger_words", "info", "preview")
    FUNCTION = "browse"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "search": ("STRING", {"default": "", "tooltip": "words matched in the path, title and trigger words"}),
                "architecture": (_architectures(), {"default": "any"}),
                "role": ("STRING", {"default": "", "tooltip": "category folder: characters, styles, ..."}),
                "adapter": (list(ADAPTERS), {"default": "any"}),
                "sort": (list(SORTS), {"default": "path"}),
                "index": ("INT", {"default": 0, "min": 0, "max": 100000, "tooltip": "which match (0 = first)"}),
            },
            "optional": {
                "lora_name": ([PICK_FILTERS, *comfy_glue.lora_names()], {"default": PICK_FILTERS,
                              "tooltip": "pick one directly instead of by filters"}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, **kw):
        try:
            item = select(comfy_glue.get_state(), **kw)
            st = os.stat(comfy_glue.get_state().full_path(item))
            return f"{item['path']}:{st.st_mtime_ns}:{st.st_size}:{item['has_preview']}"
        except (ValueError, OSError):
            return float("nan")

    def browse(self, search, architecture, role, adapter, sort, index, lora_name=PICK_FILTERS):
        from ..library.config_files import listing_fields
        from ..library.lora_details import read_user_config, user_fields
        from .images import load_image
        state = comfy_glue.get_state()
        item = select(state, search=search, architecture=architecture, role=role, adapter=adapter, sort=sort,
                      index=index, lora_name=lora_name)
        root = state.roots()[item["root"]]
        config = read_user_config(root, item)[0] or {}
        fields = user_fields(config, item)
        words = fields["trigger_words"]
        words = ", ".join(str(w) for w in words) if isinstance(words, list) else str(words)
        preview = os.path.join(root, item["preview"]) if item["preview"] else None
        info = {k: v for k, v in item.items() if not k.startswith("_")}
        info.update({"config_name": config.get("name"), "notes": config.get("notes"),
                     "default_weight": fields["default_weight"], **listing_fields(config)})
        return (item["lora_name"], fields["default_weight"], words, json.dumps(info, sort_keys=True), load_image(preview))


NODE_CLASS_MAPPINGS = {"LoraAtlasBrowser": LoraAtlasBrowser}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasBrowser": "LoRA Library Browser (LoRA Atlas)"}
