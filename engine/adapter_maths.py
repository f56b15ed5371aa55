"""Each adapter's change ΔW as ComfyUI computes it at strength 1 (spec/block-weights.md §5): one
builder per adapter turns a module's tensors (engine.layout roles, read through
engine.tensor_source.Source) into the factored forms of engine.change_forms, so the figures never
need ΔW itself. Errors: the AnalysisError branch of engine/errors.py (ShapeMismatch, NonFinite,
UnsupportedDtype).
"""

from __future__ import annotations

import math

import numpy as np

from .change_forms import (Dense, Kron, LowRank, Mat, Relative, array_mat, boft_relative, inner, khatri_rao,
                           oft_relative)
from .errors import AnalysisError, ShapeMismatch
from .tensor_source import Source

BOFT_LIMIT = 1024           # largest BOFT butterfly super-block analysed


class Change:
    """A module's change at strength 1: `form` is the part of ΔW the file determines (None when it
    has none), `bias` the bias change (Dense, out × 1), `relative` the part that multiplies the
    base weight; `note` says what the figures leave out."""

    __slots__ = ("form", "bias", "relative", "note")

    def __init__(self, form=None, bias=None, relative=None, note=None):
        self.form, self.bias, self.relative, self.note = form, bias, relative, note


def build_change(adapter: str, roles: dict, src: Source) -> Change:
    """The change of one module (engine.layout roles), as ComfyUI computes it (§5)."""
    builder = _BUILDERS.get(adapter)
    if builder is None:
        return Change(note=f"adapter '{adapter}' is not measured")
    try:
        change = builder(roles, src)
        bias_key = roles.get("diff_b") or roles.get("b_norm")
        if bias_key and change.bias is None and (change.form is not None or change.relative is not None):
            # ComfyUI's load_lora reads a module's diff_b whatever adapter it loaded: the layer's
            # bias is patched too
            change.bias = Dense(src.mat(bias_key, shape=(-1, 1)))
        return change
    except (ValueError, IndexError) as exc:   # reshape/einsum refusals on inconsistent shapes
        raise ShapeMismatch(f"module tensors {sorted(roles.values())[:2]} do not fit together ({exc})") from None


def lora_scale(alpha, rank: int) -> float:
    """ComfyUI's scale of a rank-`rank` product: alpha / rank, 1 when the file has no alpha."""
    return alpha / rank if alpha is not None else 1.0


def _flat2(shape) -> tuple:
    if len(shape) < 2:
        raise ValueError(f"shape {list(shape)} is not a matrix")
    return shape[0], math.prod(shape[1:])


def _need(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ShapeMismatch(f"tensor '{key}': {why}")


def _lora(roles, src):
    up, down = roles["up"], roles["down"]
    out, r_up = _flat2(src.shape(up))
    r, _ = _flat2(src.shape(down))
    _need(r > 0, down, "rank 0")
    alpha = src.alpha(roles)
    scale = lora_scale(alpha, r)
    if "mid" in roles:                       # Tucker: down is contracted with the core first
        mid = src.array(roles["mid"])
        _need(mid.ndim == 4 and mid.shape[:2] == (r, r) and math.prod(src.shape(down)[2:]) == 1, roles["mid"],
              f"core {list(mid.shape)} does not fit lora_down {list(src.shape(down))}")
        v = np.einsum("abkl,bi->aikl", mid, src.array(down).reshape(r, -1)).reshape(r, -1)
        t = array_mat(v.T, f"{down}, {roles['mid']}")
    else:
        t = src.mat(down, transpose=True)
    _need(r_up == r, up, f"rank {r_up} does not match lora_down's rank {r} ({list(src.shape(up))} vs {list(src.shape(down))})")
    return Change(LowRank(src.mat(up), t, scale))


def _tucker_factor(src, a_key, b_key, t_key):
    """ComfyUI's einsum('i j k l, j r, i p -> p r k l', t, b, a) as U (out × i) and T (in·k·l × i)."""
    core = src.array(t_key)
    sa, sb = src.shape(a_key), src.shape(b_key)
    _need(core.ndim == 4 and len(sa) == 2 and len(sb) == 2 and core.shape[0] == sa[0] and core.shape[1] == sb[0],
          t_key, f"core {list(core.shape)} does not fit factors {list(sa)} and {list(sb)}")
    v = np.einsum("ijkl,jr->irkl", core, src.array(b_key)).reshape(core.shape[0], -1)
    return src.mat(a_key, transpose=True), array_mat(v.T, f"{b_key}, {t_key}")


def _plain_factor(src, a_key, b_key):
    sa, sb = src.shape(a_key), src.shape(b_key)
    _need(len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0], b_key, f"shape {list(sb)} does not fit {list(sa)}")
    return src.mat(a_key), src.mat(b_key, transpose=True)


def _loha(roles, src):
    r = src.shape(roles["hada_w1_b"])[0]
    _need(r > 0, roles["hada_w1_b"], "rank 0")
    alpha = src.alpha(roles)
    scale = lora_scale(alpha, r)
    if "hada_t1" in roles and "hada_t2" in roles:
        u1, t1 = _tucker_factor(src, roles["hada_w1_a"], roles["hada_w1_b"], roles["hada_t1"])
        u2, t2 = _tucker_factor(src, roles["hada_w2_a"], roles["hada_w2_b"], roles["hada_t2"])
    else:
        u1, t1 = _plain_factor(src, roles["hada_w1_a"], roles["hada_w1_b"])
        u2, t2 = _plain_factor(src, roles["hada_w2_a"], roles["hada_w2_b"])
    _need(u1.rows == u2.rows and t1.rows == t2.rows, roles["hada_w2_a"],
          f"the two Hadamard factors have different shapes ({u1.rows}×{t1.rows} vs {u2.rows}×{t2.rows})")
    if u1.cols * u2.cols <= min(u1.rows, t1.rows):
        # (U1 T1ᵀ) ⊙ (U2 T2ᵀ) = KR(U1, U2) · KR(T1, T2)ᵀ: rank ≤ r1·r2
        return Change(LowRank(khatri_rao(u1, u2), khatri_rao(t1, t2), scale))
    return Change(Dense(_hadamard(u1, t1, u2, t2, scale), _hadamard(t1, u1, t2, u2, scale)))


def _hadamard(u1, t1, u2, t2, scale) -> Mat:
    p, q = LowRank(u1, t1, scale).rows(), LowRank(u2, t2, 1.0).rows()
    return Mat(p.rows, p.cols, lambda s, e: p.block(s, e) * q.block(s, e), p.name)


def _lokr(roles, src):
    dim = None
    if "lokr_w1" in roles:
        _need(len(src.shape(roles["lokr_w1"])) == 2, roles["lokr_w1"], "lokr_w1 must be a matrix")
        a = Dense(src.mat(roles["lokr_w1"]), src.mat(roles["lokr_w1"], transpose=True))
    else:
        a = LowRank(*_plain_factor(src, roles["lokr_w1_a"], roles["lokr_w1_b"]), 1.0)
        dim = src.shape(roles["lokr_w1_b"])[0]
    if "lokr_w2" in roles:
        key = roles["lokr_w2"]
        _need(len(src.shape(key)) in (2, 4), key, "lokr_w2 must be a matrix or a conv kernel")
        b = Dense(src.mat(key), src.mat(key, transpose=True))
    else:
        if "lokr_t2" in roles:
            b = LowRank(*_tucker_factor(src, roles["lokr_w2_a"], roles["lokr_w2_b"], roles["lokr_t2"]), 1.0)
        else:
            b = LowRank(*_plain_factor(src, roles["lokr_w2_a"], roles["lokr_w2_b"]), 1.0)
        dim = src.shape(roles["lokr_w2_b"])[0]
    alpha = src.alpha(roles)
    _need(dim != 0, roles.get("lokr_w2_b") or roles.get("lokr_w1_b") or "", "rank 0")
    # alpha / dim only when a factor is decomposed; with both factors whole alpha is ignored
    return Change(Kron(a, b, alpha / dim if alpha is not None and dim is not None else 1.0))


def _glora(roles, src):
    a1, a2, b1, b2 = (_flat2(src.shape(roles[k])) for k in ("a1", "a2", "b1", "b2"))
    old = b2[1] == b1[0] == a1[0] == a2[1]
    new = b2[0] == b1[1] == a1[1] == a2[0]
    _need(old or new, roles["a1"], f"GLoRA factors {[a1, a2, b1, b2]} fit neither layout")
    rank = a1[0] if old else a2[0]
    _need(rank > 0, roles["a1"], "rank 0")
    alpha = src.alpha(roles)
    scale = lora_scale(alpha, rank)
    if old:   # old LyCORIS: ΔW = b2·b1 + W·a2·a1 (kept when both layouts fit, as ComfyUI does for square W)
        fixed = LowRank(src.mat(roles["b2"]), src.mat(roles["b1"], transpose=True), scale)
        m = LowRank(src.mat(roles["a2"]), src.mat(roles["a1"], transpose=True), scale)
    else:     # ΔW = W·a1·a2 + b1·b2
        fixed = LowRank(src.mat(roles["b1"]), src.mat(roles["b2"], transpose=True), scale)
        m = LowRank(src.mat(roles["a1"]), src.mat(roles["a2"], transpose=True), scale)
    return Change(fixed, relative=Relative(m.spectrum(), m.shape[0]),
                  note="GLoRA: figures are the weight-independent part b·b; the W·a part is relative_energy")


def _oft(roles, src):
    key = roles["oft_blocks"]
    blocks = src.array(key)
    _need(blocks.ndim == 3 and blocks.shape[1] == blocks.shape[2], key, f"OFT blocks {list(blocks.shape)} are not square")
    return Change(relative=oft_relative(blocks, src.alpha(roles) or 0.0),
                  note="OFT: ΔW = (R−I)ᵀ·W needs the base weight; figures are relative")


def _boft(roles, src):
    key = roles["oft_blocks"]
    m, nb, b, b2 = src.shape(key)
    _need(b == b2 and b >= 2 and b % 2 == 0 and m >= 1, key, f"BOFT blocks {[m, nb, b, b2]} are not even square blocks")
    n = 2 ** (m - 1) * b
    _need((nb * b) % n == 0, key, f"{nb * b} rows do not split into butterfly groups of {n}")
    if n > BOFT_LIMIT:
        raise AnalysisError(f"tensor '{key}': BOFT butterfly of {n} rows is larger than the {BOFT_LIMIT} analysed")
    alpha = src.alpha(roles)
    if alpha is None:   # ComfyUI compares None > 0, fails and leaves the weight unchanged
        return Change(note="BOFT without alpha: ComfyUI fails to apply it")
    rescale = src.array(roles["rescale"]) if "rescale" in roles else None
    _need(rescale is None or rescale.size == nb * b, roles.get("rescale", key), "rescale does not match the rows")
    return Change(relative=boft_relative(src.array(key), alpha, rescale),
                  note="BOFT: ΔW = (D·P − I)·W needs the base weight; figures are relative")


def _full(roles, src):
    weight = roles.get("diff") or roles.get("w_norm")
    bias_key = roles.get("diff_b") or roles.get("b_norm")
    bias = Dense(src.mat(bias_key, shape=(-1, 1))) if bias_key else None
    if weight is None:
        if "set_weight" in roles:
            return Change(note="set_weight replaces the weight: the change needs the base weight")
        return Change(bias=bias)
    if len(src.shape(weight)) < 2:
        return Change(Dense(src.mat(weight, shape=(-1, 1))), bias)
    return Change(Dense(src.mat(weight), src.mat(weight, transpose=True)), bias)


_BUILDERS = {"lora": _lora, "loha": _loha, "lokr": _lokr, "glora": _glora, "oft": _oft, "boft": _boft,
             "full": _full, "bias": _full, "norm": _full}


def change_inner(x: Change, y: Change) -> float | None:
    """⟨ΔW_x, ΔW_y⟩ (weights and biases) of two changes of one module; None when either change
    depends on the base weight only (relative) or has nothing measurable."""
    if x.form is None and x.bias is None or y.form is None and y.bias is None:
        return None
    total = 0.0
    if x.form is not None and y.form is not None:
        total += inner(x.form, y.form)
    if x.bias is not None and y.bias is not None:
        total += inner(x.bias, y.bias)
    return total
