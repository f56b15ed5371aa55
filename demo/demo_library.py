"""Build the demo library that `make run` works on: realistic LoRAs of several architectures and
adapters in role folders, plus the broken and misplaced files real folders collect."""

from __future__ import annotations

import os
import shutil

from .synthetic_loras import checkpoint_tensors, embedding_tensors, write_fixture, write_tensors

# (relative path, fixture, rank)
DEMO_LORAS = (
    ("styles/watercolor_style.safetensors", "sd1_lora", 2),
    ("styles/ink_sketch_xl.safetensors", "sdxl_lora", 2),
    ("styles/pastel_illustrious.safetensors", "sdxl_illustrious", 1),
    ("characters/red_hair_girl_pony.safetensors", "sdxl_pony", 2),
    ("characters/portrait_flux.safetensors", "flux_lora", 1),
    ("concepts/detail_tweaker_locon.safetensors", "sdxl_locon", 1),
    ("concepts/texture_loha.safetensors", "sd1_loha", 1),
    ("concepts/sharp_single_blocks.safetensors", "flux_single", 1),
    ("poses/dynamic_pose_peft.safetensors", "flux_peft", 1),
    ("wan_motion_1_3b.safetensors", "wan_1_3b", 1),
    ("hunyuan_cinematic.safetensors", "hunyuan_video", 1),
    ("sd3_lighting.safetensors", "sd3_lora", 1),
    ("qwen_poster_text.safetensors", "qwen_image", 1),
)


def build_demo_library(root: str, force: bool = False) -> list:
    """Write the demo library under `root` and return the written paths. Refuses to write into a
    non-empty folder it did not make unless `force` (and then only replaces its own files)."""
    marker = os.path.join(root, ".lora-atlas-demo")
    if os.path.isdir(root) and os.listdir(root) and not os.path.exists(marker):
        raise FileExistsError(f"{root} is not empty and is not a demo library; choose another folder")
    if force and os.path.exists(marker):
        shutil.rmtree(root)
    os.makedirs(root, exist_ok=True)
    open(marker, "w").close()
    written = []
    for seed, (rel, fixture, rank) in enumerate(DEMO_LORAS):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        written.append(write_fixture(fixture, path, rank=rank, seed=seed))
    written += _bad_files(root)
    return written


def _bad_files(root: str) -> list:
    paths = {
        name: os.path.join(root, name)
        for name in ("old_format.ckpt", "broken_download.safetensors", "sd15_checkpoint.safetensors",
                     "easynegative.safetensors", "not_really.safetensors", "empty.safetensors")
    }
    with open(paths["old_format.ckpt"], "wb") as fh:
        fh.write(b"PK\x03\x04" + b"\0" * 60)                     # a torch zip archive: never unpickled
    good = write_fixture("sd1_nometa", paths["broken_download.safetensors"], rank=1)
    with open(good, "r+b") as fh:                               # cut off mid-download
        fh.truncate(os.path.getsize(good) // 2)
    write_tensors(paths["sd15_checkpoint.safetensors"], checkpoint_tensors())
    write_tensors(paths["easynegative.safetensors"], embedding_tensors())
    with open(paths["not_really.safetensors"], "wb") as fh:
        fh.write(bytes(range(256)) * 8)
    open(paths["empty.safetensors"], "wb").close()
    return sorted(paths.values())
