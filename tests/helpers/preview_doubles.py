"""Test doubles of the previews' ComfyClient *interface* (not of ComfyUI): they list the models and LoRAs
given and "render" fixed PNG bytes, so the writing, journal, dispatch and cancel logic can be tested
without a server. Rendering itself is tested against a real ComfyUI in tests/integration.
`PairClient` 'renders' one PNG for a graph with the LoRA (WITH), another for the same graph without
it (WITHOUT) and GRID for the block-grid node's graph: what the A/B pair, the grid, the job and the
queue route write and report."""

from __future__ import annotations

import json
import os
import struct
import zlib

from libraries import build_comfy_library
from lora_atlas.library import operations
from lora_atlas.library.previews import graph, prompts, settings
from lora_atlas.library.previews.client import ComfyClient

CKPT = "sd15_random.safetensors"


def organized_preview_library(root) -> str:
    """The small ComfyUI-shaped fixture library, organized, with a preview_config.json for 64x64 in
    2 steps on CKPT: what the previews' unit tests render into."""
    root = build_comfy_library(root)
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    assert operations.organize(root, previews=False).run
    return root


def _png(w=64, h=64, shade=0x80) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes([shade]) * (w * 3) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class FixedPngClient(ComfyClient):
    """Test double of the client interface: lists the given models and LoRAs, 'renders' fixed bytes."""

    name = "test-double"

    def __init__(self, loras, checkpoints=(CKPT,), png=None):
        self.loras, self.checkpoints, self.png = list(loras), list(checkpoints), png or _png()
        self.queued = []

    def object_info(self):
        """The SD1 graph's nodes, each input declared as taking anything, the model lists given."""
        info = {cls: {"input": {"required": {}}, "output": list(outs)} for cls, outs in graph.OUTPUTS.items()}
        s = settings.validate({"templates": {"sd1": {"checkpoint": CKPT}}})
        g = graph.family_graph(s, "sd1", "x.safetensors", prompts.preview_prompt(s, "x.safetensors"), seed=1,
                               filename_prefix="a/b")
        for node in g.values():
            for name in node["inputs"]:
                info[node["class_type"]]["input"]["required"].setdefault(name, ["*"])
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [self.checkpoints]
        info["LoraLoader"]["input"]["required"]["lora_name"] = [self.loras]
        return info

    def queue(self, prompt):
        self.queued.append(prompt)
        return f"p{len(self.queued)}"

    def wait(self, prompt_id, timeout, progress=None):
        prefix = [n for n in self.queued[-1].values() if n["class_type"] == "SaveImage"][0]["inputs"]["filename_prefix"]
        return {"9": {"images": [{"filename": prefix.rsplit("/", 1)[-1] + "_00001_.png", "subfolder": "", "type": "output"}]}}

    def image(self, ref):
        return self.png


WITH, WITHOUT, GRID = _png(8, 8, 200), _png(8, 8, 40), _png(8, 8, 120)


class PairClient(FixedPngClient):
    """Tells graphs apart by their nodes: a LoraLoader gives WITH, none WITHOUT, the grid node GRID.
    `nodes` are extra node types it has (object_info takes any input)."""

    name = "pair-double"

    def __init__(self, loras, nodes=("LoraAtlasBlockGrid",)):
        super().__init__(loras)
        self.nodes = set(nodes)

    def object_info(self):
        info = super().object_info()
        for node in self.nodes:
            info[node] = {"input": {"required": {}}, "output": ["IMAGE"]}
        return info

    def queue(self, prompt):
        self.queued.append(prompt)
        return str(len(self.queued))

    def wait(self, prompt_id, timeout, progress=None):
        return {"9": {"images": [{"filename": f"{prompt_id}.png", "subfolder": "", "type": "output"}]}}

    def image(self, ref):
        types = {n["class_type"] for n in self.queued[int(ref["filename"][:-4]) - 1].values()}
        return GRID if "LoraAtlasBlockGrid" in types else WITH if "LoraLoader" in types else WITHOUT
