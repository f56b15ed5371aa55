"""Test doubles of the previews' ComfyClient *interface* (not of ComfyUI, which the integration tests
run for real): `PairClient` 'renders' one fixed PNG for a graph with the LoRA (WITH), another for
the same graph without it (WITHOUT), and GRID for the block-grid node's graph. Used to check what
the library writes and undoes, and what the job and the queue route report."""

from __future__ import annotations

import struct
import zlib

from lora_atlas.library.previews import graph, prompts, settings
from lora_atlas.library.previews.client import ComfyClient

CKPT = "sd15_random.safetensors"


def _png(shade: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes([shade]) * 24 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


WITH, WITHOUT, GRID = _png(200), _png(40), _png(120)


class PairClient(ComfyClient):
    """Lists the checkpoint and LoRAs; a graph with a LoraLoader gives WITH, without one WITHOUT,
    the grid node's graph GRID. `nodes` are the node types it has (object_info takes any input)."""

    name = "pair-double"

    def __init__(self, loras, nodes=("LoraAtlasBlockGrid",)):
        self.loras, self.nodes, self.queued = list(loras), set(nodes), []

    def object_info(self):
        """The SD1 graph's nodes with the inputs it uses (declared as taking anything), the lists given."""
        info = {cls: {"input": {"required": {}}, "output": list(outs)} for cls, outs in graph.OUTPUTS.items()}
        s = settings.validate({"templates": {"sd1": {"checkpoint": CKPT}}})
        g = graph.family_graph(s, "sd1", "x.safetensors", prompts.preview_prompt(s, "x.safetensors"), seed=1,
                               filename_prefix="a/b")
        for node in g.values():
            for name in node["inputs"]:
                info[node["class_type"]]["input"]["required"].setdefault(name, ["*"])
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [[CKPT]]
        info["LoraLoader"]["input"]["required"]["lora_name"] = [self.loras]
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
