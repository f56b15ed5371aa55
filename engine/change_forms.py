"""A change ΔW held in factored form, and its figures (energy ‖ΔW‖²_F, singular values) computed
without ever building ΔW; engine.adapter_maths builds one of these forms per adapter.

    form       ΔW                                   figures from
    LowRank    s · U Tᵀ   (U out×r, T in×r)         the r×r Grams UᵀU, TᵀT: LoRA, LoCon, Tucker
                                                     `lora_mid`, LoHa (Khatri-Rao factors, r² wide),
                                                     GLoRA's b-part, decomposed LoKr factors
    Kron       s · kron(A, B)                        σ(A) ⊗ σ(B), ‖·‖² = ‖A‖²‖B‖²: LoKr
    Dense      D, read in row blocks                 the Gram of its smaller side: full/diff, bias
    Relative   A·W or W·M, W not in the file         σ(A) or σ(M), energy normalised by the dimension
                                                     W is multiplied on: OFT, BOFT, GLoRA's W-part

Operands are `Mat`s: matrices produced in row blocks of ~1 MB of float32 (from the file's memory
map, engine.tensor_source), so memory per module is O(r² + block) whatever the layer size.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import NonFinite, ShapeMismatch
from .tensors import widen

CHUNK = 1 << 18             # elements per converted block: 1 MB of float32, stays in cache
EXACT_LIMIT = 3072          # dense Grams up to this side (75 MB in float64); above it, a sketch
SKETCH = 64                 # singular values kept by the randomized sketch of a huge dense diff


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
    check_finite(np.diagonal(g), m.name)
    return g


def cross(x: Mat, y: Mat) -> np.ndarray:
    """XᵀY for two matrices with the same rows."""
    g = np.zeros((x.cols, y.cols))
    step = x.step(max(x.cols, y.cols))
    for start in range(0, x.rows, step):
        stop = min(start + step, x.rows)
        g += x.block(start, stop).T @ y.block(start, stop)
    return g


def check_finite(values, name: str) -> None:
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
    check_finite([energy], m.name)
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
        self._tfull = self._ufull = None

    def spectrum(self) -> Spectrum:
        if self.u.cols > min(self.shape):
            # A rank above min(out, in) (a hostile file, or a LoHa's r² on a small layer): the r × r
            # Grams would cost O(r³) time and r² memory, more than ΔW itself, which is then no
            # larger than the factors the file stores. Measure ΔW from its smaller side.
            return Dense(self.rows(), self.cols()).spectrum()
        return lowrank_spectrum(gram(self.u), gram(self.t), self.scale)

    def rows(self) -> Mat:
        """ΔW in row blocks."""
        return self._product(self.u, self.t, "_tfull", self.shape)

    def cols(self) -> Mat:
        """ΔWᵀ in row blocks."""
        return self._product(self.t, self.u, "_ufull", self.shape[::-1])

    def _product(self, left: Mat, right: Mat, cache: str, shape) -> Mat:
        """scale · left rightᵀ in row blocks of `left`; `right` is read whole once, kept in `cache`."""
        def block(start, stop):
            full = getattr(self, cache)
            if full is None:
                full = right.full()
                setattr(self, cache, full)
            return (self.scale * left.block(start, stop)) @ full.T

        return Mat(shape[0], shape[1], block, left.name)


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
    if isinstance(x, LowRank) and isinstance(y, LowRank) and x.u.cols * y.u.cols <= x.shape[0] * x.shape[1]:
        # The r_x × r_y cross Grams, unless they would be larger than ΔW itself (ranks above the layer)
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
