"""Reading tensor values from a validated safetensors file: tiny scalars by `pread`, large tensors
through a memory map. numpy only; bf16 is widened to float32 by bit shifting."""

from __future__ import annotations

import os
import struct

import numpy as np

_NUMPY = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def decode(buf, dtype: str, shape) -> np.ndarray:
    """An array over `buf` (bytes or a memmap slice); bf16 becomes float32."""
    if dtype == "BF16":
        raw = np.frombuffer(buf, dtype="<u2")
        return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    np_dtype = _NUMPY.get(dtype)
    if np_dtype is None:
        raise ValueError(f"unsupported dtype {dtype}")
    return np.frombuffer(buf, dtype=np.dtype(np_dtype).newbyteorder("<")).reshape(shape)


_SCALAR_FORMATS = {"F16": "<e", "F32": "<f", "F64": "<d", "BF16": "<H", "I64": "<q", "I32": "<i", "I16": "<h", "I8": "<b", "U8": "<B"}


def read_scalars(path: str, header, keys) -> dict:
    """Values of scalar tensors (alphas): one `pread` each, no mapping of the file (a page fault
    on a sparse region costs milliseconds here, a pread microseconds)."""
    out = {}
    start = header.data_start
    fd = os.open(path, os.O_RDONLY)
    try:
        for key in keys:
            dtype, shape, begin, end = header.tensors[key]
            fmt = _SCALAR_FORMATS.get(dtype)
            if fmt is None or begin == end:
                continue
            buf = os.pread(fd, struct.calcsize(fmt), start + begin)
            if len(buf) < struct.calcsize(fmt):
                continue
            (value,) = struct.unpack(fmt, buf)
            if dtype == "BF16":
                (value,) = struct.unpack("<f", struct.pack("<I", value << 16))
            out[key] = float(value)
    finally:
        os.close(fd)
    return out


class TensorReader:
    """Memory-mapped access to a file's tensors, one at a time, as float32 arrays."""

    def __init__(self, path: str, header):
        self.path = path
        self.header = header
        self._map = np.memmap(path, dtype=np.uint8, mode="r") if header.file_size > header.data_start else None

    def get(self, key: str) -> np.ndarray:
        dtype, shape, begin, end = self.header.tensors[key]
        start = self.header.data_start
        view = self._map[start + begin: start + end] if self._map is not None else b""
        return decode(view, dtype, shape).astype(np.float32, copy=False)

    def close(self):
        self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
