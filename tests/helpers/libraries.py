"""The small real LoRA libraries the tests run on, in one place. Tests take a private copy with the
`library_copy` fixture (tests/conftest.py), which builds each kind once per session:

    "mixed"  good and bad files, odd names, a sidecar: what organize and the store must cope with
    "comfy"  four LoRAs, a preview image and a broken file: the ComfyUI face (unit and integration)
    "demo"   the `lora-atlas demo` library (lora_atlas.demo.demo_library)
    "sidecars" LoRAs with the metadata ComfyUI-Lora-Manager, A1111/Forge, Civitai Helper and rgthree
             write beside them (their real file formats), previews, a malformed sidecar

Importable as `libraries` because pyproject's pytest `pythonpath` lists tests/helpers.
"""

from __future__ import annotations

import hashlib
import json
import os

from lora_atlas.demo.demo_library import build_demo_library
from lora_atlas.demo.synthetic_loras import checkpoint_tensors, embedding_tensors, write_fixture, write_tensors

# (relative path, fixture): sparse files, headers real, weights holes; one full file with a thumbnail.
MIXED = (
    ("styles/watercolor.safetensors", "sd1_lora"),
    ("styles/ink sketch (v2).safetensors", "sdxl_lora"),
    ("characters/hero.safetensors", "sdxl_pony"),
    ("characters/Héroïne ñ 漢字.safetensors", "flux_lora"),
    ("concepts/texture.safetensors", "sd1_loha"),
    ("loose_wan.safetensors", "wan_1_3b"),
)

COMFY = (
    ("styles/watercolor.safetensors", "sd1_lora", 0),
    ("characters/hero.safetensors", "sd1_lora", 1),
    ("concepts/texture.safetensors", "sd1_loha", 2),
    ("styles/ink_xl.safetensors", "sdxl_lora", 3),
)
PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763"
                        "f8cfc0000003010100c9fe92ef0000000049454e44ae426082")


def tree_hashes(root) -> dict:
    """relative path -> sha256 of every file under `root`, the store folder excluded."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".lora-atlas"]
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = hashlib.sha256(fh.read()).hexdigest()
    return out


def build_mixed_library(root) -> dict:
    """A small library with good and bad files; returns tree_hashes of it."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    for seed, (rel, fixture) in enumerate(MIXED):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_fixture(fixture, path, rank=1, sparse=fixture != "sdxl_lora", seed=seed,
                      metadata={"ss_output_name": f"lora{seed}"})
    with open(os.path.join(root, "old.ckpt"), "wb") as fh:
        fh.write(b"PK\x03\x04" + b"\0" * 60)
    write_tensors(os.path.join(root, "checkpoint.safetensors"), checkpoint_tensors())
    write_tensors(os.path.join(root, "styles", "negative.safetensors"), embedding_tensors())
    open(os.path.join(root, "empty.safetensors"), "wb").close()
    with open(os.path.join(root, "styles", "watercolor.txt"), "w") as fh:     # a sidecar note
        fh.write("my notes\n")
    return tree_hashes(root)


def build_comfy_library(root) -> str:
    """Four LoRAs (SD1 and SDXL), a preview image and a broken file; returns the root."""
    root = str(root)
    for rel, fixture, seed in COMFY:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_fixture(fixture, path, rank=2, seed=seed)
    with open(os.path.join(root, "styles", "watercolor.preview.png"), "wb") as fh:
        fh.write(PNG_1x1)
    with open(os.path.join(root, "broken.safetensors"), "wb") as fh:
        fh.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    return root


# (relative path, fixture)
SIDECARS = (
    ("styles/lm_style.safetensors", "sdxl_lora"),        # ComfyUI-Lora-Manager
    ("styles/lm_style.extra.safetensors", "sdxl_lora"),  # a longer stem beside it: its files are its own
    ("characters/a1.safetensors", "sd1_lora"),           # A1111 / Forge
    ("concepts/ch.safetensors", "sd1_loha"),             # Civitai Helper (its base model contradicts the tensors)
    ("rg.safetensors", "sdxl_pony"),                     # rgthree (idem: the header says pony)
    ("styles/broken.safetensors", "sd1_lora"),           # a malformed LoRA Manager file
)
CIVITAI_VERSION = {
    "id": 222, "modelId": 111, "name": "v1.0", "trainedWords": ["lmword", "glow"], "baseModel": "Illustrious",
    "model": {"name": "LM Style", "type": "LORA", "nsfw": False, "tags": ["style", "glow"]},
    "images": [{"url": "https://image.civitai.com/x.jpeg", "nsfwLevel": 1, "width": 512, "height": 512}],
}


def build_sidecars_library(root) -> str:
    """LoRAs as four other tools left them, in their real file formats; returns the root."""
    root = str(root)
    for seed, (rel, fixture) in enumerate(SIDECARS):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        meta = {"ss_output_name": f"side{seed}"}
        if rel.startswith("styles/lm_style."):        # trained on a merge: the header cannot tell which SDXL
            meta["ss_sd_model_name"] = "my_merge.safetensors"
        write_fixture(fixture, path, rank=1, sparse=True, seed=seed, metadata=meta)

    def put(rel, doc):
        data = doc if isinstance(doc, bytes) else json.dumps(doc, indent=2).encode()
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(data)

    put("styles/lm_style.metadata.json", {
        "file_name": "lm_style", "model_name": "LM Style", "file_path": "/loras/styles/lm_style.safetensors",
        "size": 1234, "modified": 1700000000.0, "sha256": "ab" * 32, "base_model": "Illustrious",
        "preview_url": "/loras/styles/lm_style.preview.png", "preview_nsfw_level": 4, "notes": "glowing lines",
        "from_civitai": True, "civitai": CIVITAI_VERSION, "tags": ["style", "glow"],
        "modelDescription": "<p>A style</p>", "usage_tips": "{\"strength\": 0.8}", "favorite": True})
    put("styles/lm_style.preview.png", PNG_1x1)
    put("styles/lm_style.extra.preview.png", PNG_1x1)
    put("characters/a1.json", {"description": "red hair", "sd version": "SD1", "activation text": "a1word, red hair",
                               "preferred weight": 0.6, "negative text": "blurry", "notes": "from forge"})
    put("characters/A1.txt", b"upper-case note\n")                      # same stem, another case
    put("concepts/ch.civitai.info", {
        "id": 444, "modelId": 333, "name": "v2", "trainedWords": ["chword"], "baseModel": "SDXL 1.0",
        "model": {"name": "CH", "type": "LORA", "nsfw": True, "tags": ["texture"]}, "images": []})
    put("concepts/ch.webp", PNG_1x1)
    put("rg.rgthree-info.json", {
        "file": "rg.safetensors", "name": "RG", "type": "LORA", "baseModel": "Illustrious", "sha256": "cd" * 32,
        "links": ["https://civitai.com/models/555?modelVersionId=666"],
        "trainedWords": [{"word": "rgword", "count": 3, "civitai": True}, {"word": "pose", "user": True}],
        "strengthMin": 0.2, "strengthMax": 1.2, "userNote": "my rgthree note",
        "raw": {"civitai": {"id": 666, "modelId": 555, "model": {"nsfw": False, "tags": ["pose"]}}}})
    put("rg.preview.mp4", b"\0\0\0\x18ftypmp42")
    put("styles/broken.metadata.json", b"{not json")
    return root


BUILDERS = {"mixed": build_mixed_library, "comfy": build_comfy_library, "demo": build_demo_library,
            "sidecars": build_sidecars_library}
