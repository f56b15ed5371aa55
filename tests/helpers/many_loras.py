"""A library of many LoRA files for scale tests (the panel's 10,000-card gallery): one real
header of the project's fixture builder per file, each with its own name, weights as holes."""

from __future__ import annotations

import json
import os

from lora_atlas.demo.synthetic_loras import write_fixture


def build_many(root, n: int) -> str:
    """`n` LoRA files of one real SD1 header (sparse: weights are holes) in folders of 500."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    template = write_fixture("sd1_lora", os.path.join(root, "template.tmp"), sparse=True, rank=1)
    with open(template, "rb") as fh:
        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    data_len = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    os.remove(template)
    for i in range(n):
        folder = os.path.join(root, f"set{i // 500:02d}")
        os.makedirs(folder, exist_ok=True)
        header["__metadata__"] = dict(header.get("__metadata__") or {}, ss_output_name=f"lora_{i:05d}")
        raw = json.dumps(header, separators=(",", ":")).encode()      # one header per file: no duplicates
        raw += b" " * (-len(raw) % 8)
        with open(os.path.join(folder, f"lora_{i:05d}.safetensors"), "wb") as out:
            out.write(len(raw).to_bytes(8, "little") + raw)
            out.truncate(8 + len(raw) + data_len)             # the weights stay holes
    return root
