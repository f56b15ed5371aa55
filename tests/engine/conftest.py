"""Shared helpers for the engine tests: tiny LoRA files written from exact arrays."""

from __future__ import annotations

import numpy as np
import pytest

from lora_atlas.engine.tensors import decode
from lora_atlas.demo.safetensors_writer import to_bytes, write

SD1 = {"modelspec.architecture": "stable-diffusion-v1/lora"}

def _write_lora(path, tensors: dict, dtype: str = "F32", metadata=SD1) -> dict:
    """Write `tensors` (name -> array; 0-d arrays are scalars) and return them as stored, in float64."""
    entries, stored = [], {}
    for name, array in tensors.items():
        array = np.asarray(array, dtype=np.float64)
        dt = "F32" if array.ndim == 0 else dtype
        entries.append((name, dt, array.shape, array.astype(np.float32)))
        stored[name] = decode(to_bytes(array.astype(np.float32), dt), dt, array.shape).astype(np.float64)
    write(str(path), entries, metadata)
    return stored


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def write_lora():
    """`write_lora(path, {name: array}, dtype="F32", metadata=SD1)` -> the arrays as stored (float64)."""
    return _write_lora
