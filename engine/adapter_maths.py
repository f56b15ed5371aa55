"""Each adapter's change ΔW as ComfyUI computes it at strength 1 (spec/block-weights.md §5), held in
factored form, and its figures (energy ‖ΔW‖²_F, singular values) without ever building ΔW.

    form       ΔW                                   figures from
    LowRank    s · U Tᵀ   (U out×r, T in×r)         the r×r Grams UᵀU, TᵀT: LoRA, LoCon, Tucker
                                                     `lora_mid`, LoHa (Khatri-Rao factors, r² wide),
                                                     GLoRA's b-part, decomposed LoKr factors
    Kron       s · kron(A, B)                        σ(A) ⊗ σ(B), ‖·‖² = ‖A‖²‖B‖²: LoKr
    Dense      D, read in row blocks                 the Gram of its smaller side: full/diff, bias
    Relative   A·W or W·M, W not in the file         σ(A) or σ(M), energy normalised by the dimension
                                                     W is multiplied on: OFT, BOFT, GLoRA's W-part

Tensors stay in the file's memory map; each Mat converts one block of ~1 MB to float32 at a time,
so memory per module is O(r² + block) whatever the layer size. Errors: the AnalysisError branch
of engine/errors.py (ShapeMismatch, NonFinite, UnsupportedDtype).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import math
import mmap
import os

import numpy as np

from .errors import AnalysisError, NonFinite, ShapeMismatch, UnsupportedDtype  # noqa: F401 (re-exported)
from .tensors import FLOAT_DTYPES, TensorReader, read_scalars, widen

CHUNK = 1 << 18             # elements per converted block: 1 MB of float32, stays in cache
EXACT_LIMIT = 3072          # dense Grams up to this side (75 MB in float64); above it, a sketch
SKETCH = 64                 # singular values kept by the randomized sketch of a huge dense diff
BOFT_LIMIT = 1024           # largest BOFT butterfly super-block analysed
RELEASE_BYTES = 64 << 20    # file bytes read between two drops of the mapped pages
_STORAGE = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}




# ---------------------------------------------------------------------------------------------
# BLAS threads


def _openblas():
    """numpy's bundled OpenBLAS thread controls (get, set), or None when they cannot be found."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*")) +
                       glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                return get, set_
    return None


_BLAS = _openblas()


@contextlib.contextmanager
def single_threaded_blas():
    """Run numpy's OpenBLAS on one thread inside the block, then restore it. The products here are
    r×r or tall and thin, where BLAS threads only add synchronisation: measured 5-6x slower with
    two threads on a busy two-core machine."""
    if _BLAS is None:
        yield
        return
    get, set_ = _BLAS
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


# ---------------------------------------------------------------------------------------------
# Operands: matrices read in row blocks


class Mat:
    """A rows × cols matrix produced in row blocks as float32; `name` says which tensors it is."""

    __slots__ = ("rows", "cols", "_block", "name")

    def __init__(self, rows: int, cols: int, block, name: str):
        self.rows, self.cols, self._block, self.name = int(rows), int(cols), block, name

    def block(self, start: int, stop: int) -> np.ndarray:
        return self._block(start, stop)

    def step(self, cols: int | None = None) -> int:
        return max(1, CHUNK // max(cols or self.cols, 1))

    def full(self) -> np.ndarray:
        return self._block(0, self.rows)


def array_mat(array, name: str) -> Mat:
    a = np.asarray(array, dtype=np.float32)
    a = a.reshape(a.shape[0], -1) if a.ndim != 2 else a
    return Mat(a.shape[0], a.shape[1], lambda s, e: a[s:e], name)


def raw_mat(raw: np.ndarray, dtype: str, name: str, transpose: bool = False) -> Mat:
    """A 2-D view in storage dtype (bf16 as uint16); `transpose` reads its columns as rows
    (converted in their stored order, handed out as a transposed view: no strided copy)."""

    def convert(part):
        return widen(part, dtype)

    if transpose:
        return Mat(raw.shape[1], raw.shape[0], lambda s, e: convert(raw[:, s:e]).T, name)
    return Mat(raw.shape[0], raw.shape[1], lambda s, e: convert(raw[s:e]), name)


def khatri_rao(a: Mat, b: Mat) -> Mat:
    """Row-wise Kronecker product: row i is a[i] ⊗ b[i] (a LoHa factor pair as one r²-wide factor)."""
    def block(start, stop):
        x, y = a.block(start, stop), b.block(start, stop)
        return (x[:, :, None] * y[:, None, :]).reshape(x.shape[0], -1)

    return Mat(a.rows, a.cols * b.cols, block, f"{a.name}, {b.name}")


def gram(m: Mat) -> np.ndarray:
    """MᵀM in float64 (float32 products per block)."""
    g = np.zeros((m.cols, m.cols))
    step = m.step()
    with np.errstate(invalid="ignore", over="ignore"):   # NaN/Inf are reported just below
        for start in range(0, m.rows, step):
            b = m.block(start, min(start + step, m.rows))
            g += b.T @ b
    _check_finite(np.diagonal(g), m.name)
    return g


def cross(x: Mat, y: Mat) -> np.ndarray:
    """XᵀY for two matrices with the same rows."""
    g = np.zeros((x.cols, y.cols))
    step = x.step(max(x.cols, y.cols))
    for start in range(0, x.rows, step):
        stop = min(start + step, x.rows)
        g += x.block(start, stop).T @ y.block(start, stop)
    return g


def _check_finite(values, name: str) -> None:
    if not np.all(np.isfinite(values)):
        raise NonFinite(f"tensor '{name}' holds NaN or Inf values (or values too large for float32)")


# ---------------------------------------------------------------------------------------------
# Spectra


class Spectrum:
    """Squared singular values `sq` and the exact energy Σσ². A sketched spectrum also knows how
    many singular values it left out (`tail`) and spreads the remaining energy evenly over them."""

    __slots__ = ("sq", "energy", "tail")

    def __init__(self, sq, energy: float, tail: int = 0):
        self.sq = np.clip(np.asarray(sq, dtype=np.float64).ravel(), 0.0, None)
        self.energy = max(float(energy), 0.0)
        self.tail = tail

    @property
    def approximate(self) -> bool:
        return self.tail > 0

    @property
    def spectral_norm(self) -> float:
        return math.sqrt(float(self.sq.max())) if self.sq.size else 0.0

    @property
    def effective_rank(self) -> float:
        """exp(entropy of σᵢ² / Σσ²): 1 for a rank-1 change, k for k equal singular values."""
        if self.energy <= 0.0:
            return 0.0
        p = self.sq[self.sq > 0] / self.energy
        h = -float(np.sum(p * np.log(p)))
        rest = self.energy - float(self.sq.sum())
        if self.tail and rest > 0:
            q = rest / self.energy / self.tail
            h -= self.tail * q * math.log(q)
        return math.exp(h)

    def scaled(self, factor: float) -> "Spectrum":
        return Spectrum(self.sq * factor * factor, self.energy * factor * factor, self.tail)


def lowrank_squared_singular_values(gu: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """σ² of U Tᵀ from UᵀU and TᵀT, for one Gram pair or a stack of them (engine.batched_lowrank):
    with UᵀU = SᵀS, the eigenvalues of S TᵀT Sᵀ. Raises LinAlgError when U is rank-deficient."""
    s = np.swapaxes(np.linalg.cholesky(gu), -1, -2)
    return np.linalg.eigvalsh(s @ gt @ np.swapaxes(s, -1, -2))


def lowrank_spectrum(gu: np.ndarray, gt: np.ndarray, scale: float) -> Spectrum:
    """The spectrum of s·U Tᵀ from UᵀU and TᵀT."""
    if gu.size == 0:
        return Spectrum([], 0.0)
    try:
        sq = lowrank_squared_singular_values(gu, gt)
    except np.linalg.LinAlgError:             # rank-deficient U: S from the eigen-decomposition
        w, e = np.linalg.eigh(gu)
        s = np.sqrt(np.clip(w, 0.0, None))[:, None] * e.T
        sq = np.linalg.eigvalsh(s @ gt @ s.T)
    return Spectrum(sq, float(np.sum(gu * gt))).scaled(scale)


def sketch_spectrum(m: Mat) -> Spectrum:
    """Top singular values of a matrix too wide for an exact Gram: a seeded randomized range finder
    with one power iteration (four passes over the data); the energy stays exact."""
    k = min(SKETCH, m.rows, m.cols)
    omega = np.random.default_rng(0).standard_normal((m.cols, k)).astype(np.float32)
    y = np.empty((m.rows, k), np.float32)
    energy, step = 0.0, m.step()
    for start in range(0, m.rows, step):
        b = m.block(start, min(start + step, m.rows))
        y[start:start + len(b)] = b @ omega
        energy += float(np.einsum("ij,ij->", b, b, dtype=np.float64))
    _check_finite([energy], m.name)
    for final in (False, True):
        q = np.linalg.qr(y)[0]
        z = np.zeros((m.cols, k))
        for start in range(0, m.rows, step):
            z += m.block(start, min(start + step, m.rows)).T @ q[start:start + step]
        if final:
            sv = np.linalg.svd(z, compute_uv=False)
            return Spectrum(sv * sv, energy, tail=min(m.rows, m.cols) - k)
        for start in range(0, m.rows, step):
            y[start:start + step] = m.block(start, min(start + step, m.rows)) @ z.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Forms


class LowRank:
    """ΔW = scale · U Tᵀ with U (out × r) and T (in × r)."""

    def __init__(self, u: Mat, t: Mat, scale: float):
        self.u, self.t, self.scale = u, t, float(scale)
        self.shape = (u.rows, t.rows)
        self._tfull = None

    def spectrum(self) -> Spectrum:
        return lowrank_spectrum(gram(self.u), gram(self.t), self.scale)

    def rows(self) -> Mat:
        def block(start, stop):
            if self._tfull is None:
                self._tfull = self.t.full()
            return (self.scale * self.u.block(start, stop)) @ self._tfull.T

        return Mat(self.shape[0], self.shape[1], block, self.u.name)


class Dense:
    """ΔW read directly: `rows` is ΔW, `cols` (optional) is ΔWᵀ, also in row blocks."""

    def __init__(self, rows: Mat, cols: Mat | None = None):
        self._rows, self._cols = rows, cols
        self.shape = (rows.rows, rows.cols)

    def spectrum(self) -> Spectrum:
        m = self._cols if self._cols is not None and self._cols.cols < self._rows.cols else self._rows
        if m.cols > EXACT_LIMIT:
            return sketch_spectrum(m)
        g = gram(m)
        return Spectrum(np.linalg.eigvalsh(g), float(np.trace(g)))

    def rows(self) -> Mat:
        return self._rows


class Kron:
    """ΔW = scale · kron(A, B); A and B are forms themselves (LowRank or Dense)."""

    def __init__(self, a, b, scale: float):
        self.a, self.b, self.scale = a, b, float(scale)
        self.shape = (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])

    def spectrum(self) -> Spectrum:
        sa, sb = self.a.spectrum(), self.b.spectrum()
        sq = np.multiply.outer(sa.sq, sb.sq)
        return Spectrum(sq, sa.energy * sb.energy).scaled(self.scale)

    def rows(self) -> Mat:
        a_rows, b_rows = self.a.rows(), self.b.rows()
        c = b_rows.rows

        def block(start, stop):
            parts = []
            for i in range(start // c, (stop - 1) // c + 1):
                lo, hi = max(start - i * c, 0), min(stop - i * c, c)
                a_row = a_rows.block(i, i + 1)[0]
                parts.append((self.scale * a_row[None, :, None] * b_rows.block(lo, hi)[:, None, :]).reshape(hi - lo, -1))
            return np.concatenate(parts)

        return Mat(self.shape[0], self.shape[1], block, f"{a_rows.name} ⊗ {b_rows.name}")


def inner(x, y) -> float:
    """⟨ΔW_x, ΔW_y⟩_F without building either: Gram identities where the forms allow, else one
    pass over row blocks."""
    if x.shape != y.shape:
        raise ShapeMismatch(f"the two changes have different shapes {x.shape} and {y.shape}")
    if isinstance(x, LowRank) and isinstance(y, LowRank):
        return x.scale * y.scale * float(np.sum(cross(x.u, y.u) * cross(x.t, y.t)))
    if isinstance(x, Kron) and isinstance(y, Kron) and x.a.shape == y.a.shape:
        return x.scale * y.scale * inner(x.a, y.a) * inner(x.b, y.b)
    if isinstance(y, LowRank):
        x, y = y, x
    ry = y.rows()
    if isinstance(x, LowRank):   # ⟨U Tᵀ, Y⟩ = Σ (UᵀY) ∘ Tᵀ
        c = cross(x.u, ry)
        return x.scale * float(np.sum(c * x.t.full().T))
    rx, total, step = x.rows(), 0.0, ry.step()
    for start in range(0, rx.rows, step):
        stop = min(start + step, rx.rows)
        total += float(np.einsum("ij,ij->", rx.block(start, stop), ry.block(start, stop), dtype=np.float64))
    return total


# ---------------------------------------------------------------------------------------------
# Relative changes: ΔW depends on the base weight, which the file does not contain


class Relative:
    """ΔW = A·W (OFT, BOFT: A acts on the out rows) or W·M (GLoRA: M acts on the in columns).
    Figures: energy ‖A‖²_F / dim (= ‖ΔW‖²/‖W‖² expected for an isotropic W), spectral norm ‖A‖₂
    (a bound on ‖ΔW‖₂/‖W‖₂), effective rank of A."""

    def __init__(self, spectrum: Spectrum, dim: int):
        self.operator = spectrum     # the spectrum of A (or M) itself
        self.dim = max(int(dim), 1)

    def figures(self) -> dict:
        s = self.operator
        return {"energy": s.energy / self.dim, "spectral_norm": s.spectral_norm, "effective_rank": s.effective_rank}


def _cayley(blocks: np.ndarray, alpha) -> np.ndarray:
    """ComfyUI's rotation blocks: Q = B − Bᵀ, limited to norm alpha when alpha > 0, R = (I+Q)(I−Q)⁻¹."""
    q = blocks - np.swapaxes(blocks, -1, -2)
    if alpha is not None and alpha > 0:
        norm = float(np.sqrt(np.sum(q * q))) + 1e-8
        if norm > alpha:
            q = q * (alpha / norm)
    eye = np.eye(q.shape[-1])
    return (eye + q) @ np.linalg.inv(eye - q)


def oft_relative(blocks: np.ndarray, alpha) -> Relative:
    """diag-OFT: ΔW = blockdiag((R_k − I)ᵀ)·W; σ of the block-diagonal A is the union of the blocks' σ."""
    r = _cayley(blocks.astype(np.float64), alpha)
    sv = np.linalg.svd(r - np.eye(r.shape[-1]), compute_uv=False)
    sq = sv * sv
    return Relative(Spectrum(sq, sq.sum()), blocks.shape[0] * blocks.shape[1])


def boft_relative(blocks: np.ndarray, alpha, rescale) -> Relative:
    """BOFT: W′ = D·P·W with P the butterfly product of the Cayley factors (applied as ComfyUI
    permutes rows) and D = diag(rescale); A = D·P − I is block-diagonal in super-blocks of
    N = 2^(m−1)·b rows, each built by applying the butterfly to I_N."""
    m, nb, b = blocks.shape[0], blocks.shape[1], blocks.shape[2]
    out, n = nb * b, (2 ** (m - 1)) * b
    r = _cayley(blocks.astype(np.float64), alpha).reshape(m, out // n, n // b, b, b)
    d = np.ones(out) if rescale is None else rescale.astype(np.float64).ravel()
    sqs = []
    batch = max(1, (1 << 21) // (n * n))
    for s0 in range(0, out // n, batch):
        s1 = min(s0 + batch, out // n)
        x = np.broadcast_to(np.eye(n), (s1 - s0, n, n)).copy()
        for i in range(m):
            k = 2 ** i * (b // 2)
            x = x.reshape(s1 - s0, -1, 2, k, n).transpose(0, 1, 3, 2, 4).reshape(s1 - s0, n // b, b, n)
            x = np.einsum("sbij,sbjn->sbin", r[i, s0:s1], x)
            x = x.reshape(s1 - s0, -1, k, 2, n).transpose(0, 1, 3, 2, 4).reshape(s1 - s0, n, n)
        x = x * d[s0 * n:s1 * n].reshape(s1 - s0, n, 1) - np.eye(n)
        sv = np.linalg.svd(x, compute_uv=False)
        sqs.append((sv * sv).ravel())
    sq = np.concatenate(sqs)
    return Relative(Spectrum(sq, sq.sum()), out)


# ---------------------------------------------------------------------------------------------
# Reading one module's tensors


class Source(TensorReader):
    """A file's tensors as storage-dtype views of one memory map (nothing is read until used).
    `release` drops the pages already read from the resident set, so memory stays bounded over a
    whole file; the page cache keeps them."""

    def __init__(self, path: str, header):
        super().__init__(path, header)
        self._mmap, self._touched = None, 0
        if header.file_size > header.data_start:
            with open(path, "rb") as fh:
                self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        alpha_keys = [k for k, v in header.tensors.items() if k.endswith(".alpha")]
        self.scalars = read_scalars(path, header, alpha_keys)

    def shape(self, key: str) -> tuple:
        return self.header.tensors[key][1]

    def raw(self, key: str) -> np.ndarray:
        dtype, shape, begin, end = self.header.tensors[key]
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
        super().close()
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
        return raw_mat(raw, self.header.tensors[key][0], key, transpose)

    def array(self, key: str) -> np.ndarray:
        """A small tensor (cores, OFT blocks) whole, as float64."""
        raw = self.raw(key)
        dtype = self.header.tensors[key][0]
        a = (widen(raw, dtype) if dtype == "BF16" else raw).astype(np.float64)
        _check_finite(a, key)
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


# ---------------------------------------------------------------------------------------------
# One module -> its change


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
        return builder(roles, src)
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
             "full": _full, "bias": _full}


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
