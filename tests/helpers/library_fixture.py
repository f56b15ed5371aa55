"""A small real LoRA library for the ComfyUI-face tests (unit and integration)."""

from __future__ import annotations

import os

from lora_atlas.demo.synthetic_loras import write_fixture

LIBRARY = (
    ("styles/watercolor.safetensors", "sd1_lora", 0),
    ("characters/hero.safetensors", "sd1_lora", 1),
    ("concepts/texture.safetensors", "sd1_loha", 2),
    ("styles/ink_xl.safetensors", "sdxl_lora", 3),
)
PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763"
                        "f8cfc0000003010100c9fe92ef0000000049454e44ae426082")


def build_library(root) -> str:
    root = str(root)
    for rel, fixture, seed in LIBRARY:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_fixture(fixture, path, rank=2, seed=seed)
    with open(os.path.join(root, "styles", "watercolor.preview.png"), "wb") as fh:
        fh.write(PNG_1x1)
    with open(os.path.join(root, "broken.safetensors"), "wb") as fh:
        fh.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    return root
