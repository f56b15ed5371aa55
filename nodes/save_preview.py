"""Save as LoRA Preview: any IMAGE of a graph becomes a LoRA's preview (`preview.png` and
`<stem>.preview.png`, config.yaml, index.json), written by the library like a rendered preview
(library/previews/save.py), through the journal: `lora-atlas undo` takes it back. A preview the
person placed is kept unless `overwrite` is on (then the journal keeps the old one)."""

from __future__ import annotations

from . import comfy_glue


def save(images, lora_name: str, overwrite: bool) -> dict:
    """The library report of writing the first image of `images` as `lora_name`'s preview."""
    from ..library.previews.save import save_preview
    from .images import png_bytes, to_pil
    state = comfy_glue.get_state()
    item = state.by_lora_name(lora_name)
    if item is None:
        raise ValueError(f"{lora_name!r} is not in the LoRA Atlas index yet (a scan runs in the background)")
    root = state.roots()[item["root"]]
    pil = to_pil(images)
    with state.writing(root, "Save as LoRA Preview"):
        report = save_preview(root, item["path"], png_bytes(pil), overwrite=bool(overwrite),
                              width=pil.width, height=pil.height)
    comfy_glue.refresh_lora_list()
    return report.to_dict()


class LoraAtlasSavePreview:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = ("Save the image as the chosen LoRA's preview (preview.png and <stem>.preview.png, through "
                   "the journal). A preview you placed is kept unless overwrite is on; undo restores it.")
    RETURN_TYPES = ()
    RETURN_NAMES = ()
    OUTPUT_NODE = True
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE",),
            "lora_name": (comfy_glue.lora_names(),),
            "overwrite": ("BOOLEAN", {"default": False, "tooltip": "replace a preview you placed (undo restores it)"}),
        }}

    @classmethod
    def IS_CHANGED(cls, **kw):
        return float("nan")             # a file on disk is the output: write every time the graph runs

    def save(self, images, lora_name, overwrite):
        report = save(images, lora_name, overwrite)
        result = report["results"][0] if report["results"] else {"status": "failed", "reason": "not found", "files": []}
        text = f"{result['status']}: {lora_name}" + (f" ({result['reason']})" if result["reason"] else "") \
            + (f" -> {', '.join(result['files'])}" if result["files"] else "")
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"LoraAtlasSavePreview": LoraAtlasSavePreview}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasSavePreview": "Save as LoRA Preview (LoRA Atlas)"}
