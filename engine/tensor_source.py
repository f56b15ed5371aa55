"""One LoRA file's tensors for the analysis: storage-dtype views of a single read-only memory map
(nothing is read until used), the alpha scalars read up front by `pread`, and `release` to keep
the resident set bounded over a whole file. The file side of engine.adapter_maths' builders.
"""

from __future__ import annotations

import math
import mmap

import numpy as np

from .change_forms import Mat, check_finite, raw_mat
from .errors import NonFinite, UnsupportedDtype
from .tensors import FLOAT_DTYPES, read_scalars, widen

RELEASE_BYTES = 64 << 20    # file bytes read between two drops of the mapped pages
_STORAGE = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}


class Source:
    """A file's tensors as storage-dtype views of one memory map (nothing is read until used).
    `release` drops the pages already read from the resident set, so memory stays bounded over a
    whole file; the page cache keeps them. engine.analysis.OpenedLora opens and closes it."""

    def __init__(self, path: str, header):
        self.path = path
        self.header = header
        self._mmap, self._touched = None, 0
        if header.file_size > header.data_start:
            with open(path, "rb") as fh:
                self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        alpha_keys = [k for k, v in header.tensors.items() if k.endswith(".alpha")]
        self.scalars = read_scalars(path, header, alpha_keys)

    def shape(self, key: str) -> tuple:
        return self.header.tensors[key].shape

    def raw(self, key: str) -> np.ndarray:
        entry = self.header.tensors[key]
        dtype, shape, (begin, end) = entry.dtype, entry.shape, entry.data_offsets
        if dtype not in FLOAT_DTYPES:
            raise UnsupportedDtype(f"tensor '{key}' is {dtype}: LoRA weights must be F16, BF16, F32 or F64")
        if self._mmap is None or end == begin:
            return np.empty(shape, dtype=_STORAGE[dtype])
        self._touched += end - begin
        start = self.header.data_start + begin
        return np.frombuffer(self._mmap, dtype=_STORAGE[dtype], count=math.prod(shape), offset=start).reshape(shape)

    def release(self) -> None:
        """Drop the file pages read so far from this process's resident set (they stay in the page
        cache); called between modules, it acts once every RELEASE_BYTES."""
        if self._touched >= RELEASE_BYTES and self._mmap is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mmap.madvise(mmap.MADV_DONTNEED)
            self._touched = 0

    def close(self):
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:   # a view is still alive somewhere; the map goes with it
                pass
            self._mmap = None

    def mat(self, key: str, transpose: bool = False, shape=None) -> Mat:
        """The tensor as a 2-D matrix (dims after the first flattened), optionally reshaped first."""
        raw = self.raw(key)
        raw = raw.reshape(shape) if shape is not None else raw.reshape(raw.shape[0] if raw.ndim else 1, -1)
        return raw_mat(raw, self.header.tensors[key].dtype, key, transpose)

    def array(self, key: str) -> np.ndarray:
        """A small tensor (cores, OFT blocks) whole, as float64."""
        raw = self.raw(key)
        dtype = self.header.tensors[key].dtype
        a = (widen(raw, dtype) if dtype == "BF16" else raw).astype(np.float64)
        check_finite(a, key)
        return a

    def alpha(self, roles: dict):
        key = roles.get("alpha")
        if key is None:
            return None
        value = self.scalars.get(key)
        if value is None:
            raise UnsupportedDtype(f"tensor '{key}' is not a float scalar")
        if not math.isfinite(value):
            raise NonFinite(f"tensor '{key}' is {value}")
        return value
