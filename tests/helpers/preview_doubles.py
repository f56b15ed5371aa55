"""Test doubles of the previews' ComfyClient *interface* (not of ComfyUI): they list the models and LoRAs
given and "render" fixed PNG bytes, so the writing, journal, dispatch and cancel logic can be tested
without a server. Rendering itself is tested against a real ComfyUI in tests/integration."""

from __future__ import annotations

import struct
import zlib

from lora_atlas.library.previews import graph, prompts, settings
from lora_atlas.library.previews.client import ComfyClient

CKPT = "sd15_random.safetensors"


def _png(w=64, h=64) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80" * (w * 3) for _ in range(h))
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
