"""Plain LoRA modules measured in batches of one shape: one stacked Gram product per factor and one
batched Cholesky and eigen-solve per batch, instead of a dozen numpy calls per module.

A typical SDXL LoRA has about a thousand small modules in a few dozen shapes; per module, the
call overhead costs more than the arithmetic (an SDXL rank-16 file: 0.34 s module by module,
0.25 s in batches). The maths is the module-by-module path's (engine.adapter_maths.lora_scale,
widen, engine.change_forms' float32 Gram products summed in float64 and
lowrank_squared_singular_values) on stacks, so every figure is bit-identical to that path. Only
modules whose factors fit in one block of that path (change_forms.CHUNK values) are batched; a
batch with a non-finite value or a rank-deficient up factor is left to the module-by-module path,
which reports or handles it with the module's name.
"""

from __future__ import annotations

import math

import numpy as np

from . import change_forms
from .adapter_maths import _flat2, lora_scale
from .change_forms import Spectrum, lowrank_squared_singular_values
from .tensors import widen

BATCH_BYTES = 8 << 20        # float32 factors stacked per batch
_DTYPES = ("F16", "BF16", "F32")
_PLAIN_ROLES = {"up", "down", "alpha", "dora_scale"}   # DoRA's figures are its low-rank part (engine.analysis)


def batched_figures(source, targets, figures_of) -> dict:
    """{target index: module figures} for the plain LoRA modules among `targets` (up, down, an
    optional alpha and DoRA scale, no Tucker core); `figures_of(spectrum)` turns a Spectrum into
    the figures dict. Modules left out are measured one by one by the caller."""
    groups: dict = {}
    for i, target in enumerate(targets):
        item = _plain_lora(source, target.module)
        if item is not None:
            shape, scale = item
            groups.setdefault(shape, []).append((i, target.module.roles, scale))
    found = {}
    for (dtype, out, rank, inner), members in groups.items():
        per_module = 4 * rank * (out + inner)
        size = max(1, BATCH_BYTES // per_module)
        for start in range(0, len(members), size):
            found.update(_measure(source, dtype, out, rank, inner, members[start:start + size], figures_of))
            source.release()
    return found


def _plain_lora(source, module):
    """((dtype, out, rank, in), scale) of a module the batches can take, else None."""
    roles = module.roles
    if module.adapter != "lora" or "up" not in roles or "down" not in roles or set(roles) - _PLAIN_ROLES:
        return None
    up_entry, down_entry = source.header.tensors[roles["up"]], source.header.tensors[roles["down"]]
    dtype, up, down_dtype, down = up_entry.dtype, up_entry.shape, down_entry.dtype, down_entry.shape
    if dtype != down_dtype or dtype not in _DTYPES or len(up) < 2 or len(down) < 2:
        return None
    (out, rank_up), (rank, inner) = _flat2(up), _flat2(down)
    if rank == 0 or rank != rank_up or rank > min(out, inner) or out * rank > change_forms.CHUNK or \
            rank * inner > change_forms.CHUNK:
        return None
    alpha = None
    if "alpha" in roles:
        alpha = source.scalars.get(roles["alpha"])
        if alpha is None or not math.isfinite(alpha):
            return None
    return (dtype, out, rank, inner), lora_scale(alpha, rank)


def _measure(source, dtype, out, rank, inner, members, figures_of) -> dict:
    count = len(members)
    ups = np.empty((count, out, rank), np.float32)
    downs = np.empty((count, rank, inner), np.float32)
    for j, (_, roles, _) in enumerate(members):
        widen(source.raw(roles["up"]).reshape(out, rank), dtype, out=ups[j])
        widen(source.raw(roles["down"]).reshape(rank, inner), dtype, out=downs[j])
    with np.errstate(invalid="ignore", over="ignore"):
        gu = np.matmul(ups.transpose(0, 2, 1), ups).astype(np.float64)      # UᵀU per module
        gt = np.matmul(downs, downs.transpose(0, 2, 1)).astype(np.float64)  # TᵀT = D Dᵀ
    if not (np.all(np.isfinite(np.diagonal(gu, axis1=1, axis2=2))) and
            np.all(np.isfinite(np.diagonal(gt, axis1=1, axis2=2)))):
        return {}
    try:
        sq = lowrank_squared_singular_values(gu, gt)
    except np.linalg.LinAlgError:
        return {}
    return {i: figures_of(Spectrum(sq[j], float(np.sum(gu[j] * gt[j]))).scaled(scale))
            for j, (i, _, scale) in enumerate(members)}
