"""Widening stored half floats to float32 (engine.tensors.widen): bit-identical to numpy's own
conversion for every float16 bit pattern, in any memory layout; Inf and NaN survive."""

from __future__ import annotations

import numpy as np
import pytest

from lora_atlas.engine.tensors import widen

EVERY_F16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)


def test_every_finite_float16_is_widened_exactly():
    finite = EVERY_F16[np.isfinite(EVERY_F16)]
    assert finite.size == (1 << 16) - 2 * 1024   # 2 x 1024 patterns are Inf or NaN
    out = widen(finite, "F16")
    assert out.dtype == np.float32
    assert np.array_equal(out.view(np.uint32), finite.astype(np.float32).view(np.uint32))   # -0.0, subnormals


def test_a_block_with_inf_or_nan_keeps_them():
    out = widen(EVERY_F16, "F16")
    reference = EVERY_F16.astype(np.float32)
    assert np.array_equal(out, reference, equal_nan=True)
    assert np.isinf(out).sum() == 2 and np.isnan(out).sum() == 2 * 1023


@pytest.mark.parametrize("layout", ["rows", "strided columns", "transposed"])
def test_any_memory_layout(layout):
    values = np.random.default_rng(0).standard_normal((96, 64)).astype(np.float16)
    part = {"rows": values[10:40], "strided columns": values[:, 5:37], "transposed": values.T}[layout]
    out = widen(part, "F16")
    assert out.shape == part.shape and np.array_equal(out, part.astype(np.float32))


def test_bf16_bits_and_wider_floats():
    values = np.array([1.0, -2.5, 2.0 ** 100, -0.0, np.inf, np.nan], np.float32)   # exact in bf16
    bf16_bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal(widen(bf16_bits, "BF16"), values, equal_nan=True)
    assert widen(np.array([1.5, 2.0]), "F64").dtype == np.float32
    assert widen(np.zeros((0, 3), np.float16), "F16").shape == (0, 3)


def test_widen_into_a_slice_of_a_stack():
    values = np.random.default_rng(1).standard_normal((3, 40, 8)).astype(np.float16)
    stack = np.full((3, 40, 8), np.nan, np.float32)
    for i in range(3):
        assert np.shares_memory(widen(values[i], "F16", out=stack[i]), stack[i])   # written in place
    assert np.array_equal(stack, values.astype(np.float32))
