"""Write safetensors files from numpy arrays (or from shapes alone, as sparse files).

Used by the synthetic LoRA builder; the layout is the format's own: 8-byte little-endian header
length, a JSON header padded with spaces to a multiple of 8, then the tensors back to back.
"""

from __future__ import annotations

import json
import os

import numpy as np

_ITEM = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1}


def to_bytes(array: np.ndarray, dtype: str) -> bytes:
    """Encode a float array as `dtype` (bf16 by round-to-nearest-even of float32)."""
    if dtype == "BF16":
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    np_dtype = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}[dtype]
    return np.ascontiguousarray(array).astype(np_dtype).tobytes()


def write(path: str, tensors: list, metadata: dict | None = None, sparse: bool = False) -> None:
    """`tensors` is a list of (name, dtype, shape, array-or-None), written in name order.

    With `sparse`, arrays that are None leave holes (the file is extended, not written), so a
    library of thousands of realistic headers costs almost no disk; arrays given are written.
    """
    entries = sorted(tensors, key=lambda t: t[0])
    header = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    offset = 0
    for name, dtype, shape, _ in entries:
        size = int(np.prod(shape, dtype=np.int64)) * _ITEM[dtype] if shape else _ITEM[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        start = fh.tell()
        for name, dtype, shape, array in entries:
            meta = header[name]
            if array is None:
                if not sparse:
                    fh.write(b"\0" * (meta["data_offsets"][1] - meta["data_offsets"][0]))
                continue
            fh.seek(start + meta["data_offsets"][0])
            fh.write(to_bytes(np.asarray(array).reshape(shape), dtype))
        fh.truncate(start + offset)
    os.replace(tmp, path)
