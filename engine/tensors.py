"""Reading tensor values from a validated safetensors file: tiny scalars by `pread`, large tensors
through a memory map. numpy only; bf16 is widened to float32 by bit shifting."""

from __future__ import annotations

import os

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


def read_scalars(path: str, header, keys) -> dict:
    """Values of small tensors (alphas): one `pread` each, no mapping of the file."""
    out = {}
    fd = os.open(path, os.O_RDONLY)
    try:
        for key in keys:
            dtype, shape, begin, end = header.tensors[key]
            if end - begin > 64:
                continue
            buf = os.pread(fd, end - begin, header.data_start + begin)
            try:
                values = decode(buf, dtype, shape)
            except ValueError:
                continue
            if values.size:
                out[key] = float(values.reshape(-1)[0])
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
