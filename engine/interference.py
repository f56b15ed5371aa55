"""Pairwise interference of two LoRAs: per block, ⟨ΔW_a, ΔW_b⟩_F summed over the modules both
files patch, and the cosine against the blocks' whole energies, without building any ΔW.

Modules are matched by (component, text encoder, normalized name), so kohya and ComfyUI spellings
of one module meet; two naming families of one model (BFL `double_blocks` versus diffusers
`transformer_blocks` with split q/k/v) do not. Changes that depend on the base weight (OFT, BOFT,
GLoRA's W-part) have no inner product here and are counted in `skipped`. The planner's Gram
matrix of a stack is G[i, j] = inner(i, j), G[i, i] = energy: the combined energy of strengths
c is cᵀGc.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .adapter_maths import change_inner
from .analysis import ANALYSIS_VERSION, BAD_FILE_ERRORS, OpenedLora, failure, module_figures
from .architecture import FAMILY
from .blas_threads import single_threaded_blas
from .change_forms import LowRank, Mat, gram
from .errors import AnalysisError, InspectError, ShapeMismatch
from .taxonomy import block_order



class _Pair:
    __slots__ = ("inner", "energy_a", "energy_b", "shared")

    def __init__(self):
        self.inner = self.energy_a = self.energy_b = 0.0
        self.shared = 0

    def out(self, **name) -> dict:
        denom = math.sqrt(self.energy_a * self.energy_b)
        return {**name, "inner": self.inner, "energy_a": self.energy_a, "energy_b": self.energy_b,
                "cosine": self.inner / denom if denom > 0 else 0.0, "shared_modules": self.shared}


def interference(path_a: str, path_b: str) -> dict:
    """Per block and per text encoder: inner product, both energies, cosine, shared module count.
    A file that cannot be analysed, or two architectures, give ok=False with `error`."""
    try:
        with _open(path_a) as a, _open(path_b) as b, single_threaded_blas():
            fam_a, fam_b = FAMILY.get(a.architecture, a.architecture), FAMILY.get(b.architecture, b.architecture)
            if fam_a != fam_b:
                return _failed(path_a, path_b, f"different architectures: {a.architecture} and {b.architecture}",
                               "architecture_mismatch")
            return _interfere(a, b)
    except BAD_FILE_ERRORS as exc:
        return _failed(path_a, path_b, *failure(exc))


def _open(path: str) -> OpenedLora:
    try:
        return OpenedLora(path)
    except InspectError as exc:
        exc.reason = f"{path}: {exc.reason}"
        raise


def _failed(path_a, path_b, reason, code) -> dict:
    return {"a": path_a, "b": path_b, "ok": False, "error": reason, "error_code": code, "architecture": None,
            "analysis_version": ANALYSIS_VERSION, "blocks": None, "text_encoders": None, "total": None, "skipped": None}


def _energy(lora, target, change) -> float:
    try:
        return module_figures(change)["energy"]
    except AnalysisError as exc:
        raise type(exc)(f"{lora.path}: module '{target.module.name.raw}': {exc.reason}") from None


def _interfere(a: OpenedLora, b: OpenedLora) -> dict:
    pairs: dict = {}
    total = _Pair()
    skipped = 0
    rest = {t.key: t for t in b.targets}
    for ta in a.targets:
        ca = a.change(ta)
        pair = pairs.setdefault((ta.encoder, ta.block), _Pair())
        ea = _energy(a, ta, ca)
        pair.energy_a += ea
        total.energy_a += ea
        tb = rest.pop(ta.key, None)
        if tb is None:
            continue
        cb = b.change(tb)
        eb = _energy(b, tb, cb)
        pair.energy_b += eb
        total.energy_b += eb
        try:
            ip = change_inner(ca, cb)
        except ShapeMismatch:
            ip = None
        if ip is None:
            skipped += 1
            continue
        pair.inner += ip
        pair.shared += 1
        total.inner += ip
        total.shared += 1
    for tb in rest.values():
        eb = _energy(b, tb, b.change(tb))
        pairs.setdefault((tb.encoder, tb.block), _Pair()).energy_b += eb
        total.energy_b += eb
    blocks = sorted((k for k in pairs if k[0] is None), key=lambda k: block_order(k[1]))
    encoders = sorted(k for k in pairs if k[0] is not None)
    return {
        "a": a.path, "b": b.path, "ok": True, "error": None, "error_code": None,
        "architecture": a.architecture, "analysis_version": ANALYSIS_VERSION,
        "blocks": [pairs[k].out(name=k[1]) for k in blocks],
        "text_encoders": {k[0]: pairs[k].out() for k in encoders},
        "total": total.out(),
        "skipped": skipped,
    }


# ---------------------------------------------------------------------------------------------
# The Gram matrices of a whole stack, one pass over the files


def stack_gram(paths) -> dict:
    """Per block and per text encoder, the N×N Gram matrix of N files, each file read once:

        G_b[i][j] = Σ over the modules of block b that files i and j both patch ⟨ΔW_i, ΔW_j⟩_F
        G_b[i][i] = Σ over every module of block b in file i ‖ΔW_i‖²_F   (its whole energy there)

    Blocks are labels ("BASE", "IN4", "DOUBLE7", ...; not merged positions), text encoders are
    named (clip_l, t5xxl, ...). For the low-rank forms of one module the N factors are stacked side
    by side, so one Gram of [U_1 … U_N] and one of [T_1 … T_N] give every pair at once:
    ⟨s_i U_i T_iᵀ, s_j U_j T_jᵀ⟩ = s_i s_j Σ (U_iᵀU_j) ∘ (T_iᵀT_j). Other forms fall back to
    engine.adapter_maths.change_inner pair by pair. `shared[b][i][j]` counts the modules a pair
    shares; `unmeasured` counts changes relative to the base weight (OFT, BOFT), which add nothing.
    A file that cannot be analysed gives ok=False with `error` naming it."""
    paths = list(paths)
    try:
        with contextlib.ExitStack() as stack, single_threaded_blas():
            loras = [stack.enter_context(_open(p)) for p in paths]
            families = {FAMILY.get(x.architecture, x.architecture) for x in loras}
            if len(families) > 1:
                names = ", ".join(f"{x.path}: {x.architecture}" for x in loras)
                return _stack_failed(paths, f"different architectures ({names})", "architecture_mismatch")
            return _stack(loras)
    except BAD_FILE_ERRORS as exc:
        return _stack_failed(paths, *failure(exc))


def _stack_failed(paths, reason, code) -> dict:
    return {"paths": paths, "ok": False, "error": reason, "error_code": code, "analysis_version": ANALYSIS_VERSION,
            "blocks": None, "text_encoders": None, "shared": None, "unmeasured": None}


def _stack(loras) -> dict:
    n = len(loras)
    by_key: dict = {}
    for i, lora in enumerate(loras):
        for t in lora.targets:
            by_key.setdefault(t.key, []).append((i, t))
    grams: dict = {}
    shared: dict = {}
    unmeasured = 0
    for key, entries in by_key.items():     # insertion order: file 0's modules first, deterministic
        where = [("te", t.encoder) if t.encoder else ("block", t.block) for _, t in entries]
        changes = []
        for (i, t), w in zip(entries, where):
            try:
                changes.append((i, w, loras[i].change(t)))
            except AnalysisError as exc:
                raise type(exc)(f"{loras[i].path}: module '{t.module.name.raw}': {exc.reason}") from None
        for (i, w, _), (j, w2, _), value in _module_pairs(changes):
            if w != w2:
                continue
            g = grams.get(w)
            if g is None:
                g = grams[w] = np.zeros((n, n))
                shared[w] = np.zeros((n, n), dtype=np.int64)
            g[i, j] += value
            if i != j:
                g[j, i] += value
                shared[w][i, j] += 1
                shared[w][j, i] += 1
            else:
                shared[w][i, i] += 1
        unmeasured += sum(1 for _, _, c in changes if c.form is None and c.bias is None)
        for i, _ in entries:
            loras[i].source.release()

    def pick(kind):
        return {name: grams[(k, name)].tolist() for k, name in sorted(grams, key=lambda w: (w[0], block_order(w[1])))
                if k == kind}

    return {"paths": [x.path for x in loras], "ok": True, "error": None, "error_code": None,
            "architecture": loras[0].architecture, "analysis_version": ANALYSIS_VERSION,
            "blocks": pick("block"), "text_encoders": pick("te"),
            "shared": {f"{k}:{name}": s.tolist() for (k, name), s in sorted(shared.items())},
            "unmeasured": unmeasured}


def _module_pairs(changes):
    """((i, w, change), (j, w, change), ⟨ΔW_i, ΔW_j⟩) for every pair i ≤ j of one module's changes
    that have an inner product (diagonal included)."""
    low = [c for c in changes if isinstance(c[2].form, LowRank) and c[2].bias is None
           and c[2].form.u.cols <= min(c[2].form.shape)]       # a rank above the layer: pair by pair, from ΔW
    shapes = {c[2].form.shape for c in low}
    if len(low) >= 1 and len(shapes) == 1:
        stacked = _stacked_lowrank([c[2].form for c in low])
        for a in range(len(low)):
            for b in range(a, len(low)):
                yield low[a], low[b], stacked[a][b]
        rest = [c for c in changes if c not in low]
    else:
        low, rest = [], list(changes)
    for a in range(len(rest)):
        for b in range(a, len(rest)):
            value = _inner_or_none(rest[a][2], rest[b][2])
            if value is not None:
                yield rest[a], rest[b], value
        for c in low:
            value = _inner_or_none(rest[a][2], c[2])
            if value is not None:
                yield rest[a], c, value


def _inner_or_none(x, y):
    try:
        return change_inner(x, y)
    except ShapeMismatch:
        return None


def _stacked_lowrank(forms) -> list:
    """All pairwise ⟨ΔW_a, ΔW_b⟩ of low-rank changes of one shape, from one Gram per side."""
    if len(forms) == 1:
        f = forms[0]
        value = f.scale * f.scale * float(np.sum(gram(f.u) * gram(f.t)))
        return [[value]]
    cuts = np.cumsum([0] + [f.u.cols for f in forms])
    gu = gram(_hstack([f.u for f in forms]))
    gt = gram(_hstack([f.t for f in forms]))
    out = [[0.0] * len(forms) for _ in forms]
    for a, fa in enumerate(forms):
        for b in range(a, len(forms)):
            sa, sb = slice(cuts[a], cuts[a + 1]), slice(cuts[b], cuts[b + 1])
            out[a][b] = out[b][a] = fa.scale * forms[b].scale * float(np.sum(gu[sa, sb] * gt[sa, sb]))
    return out


def _hstack(mats) -> Mat:
    """Matrices with the same rows side by side, read in row blocks."""
    return Mat(mats[0].rows, sum(m.cols for m in mats),
               lambda s, e: np.hstack([m.block(s, e) for m in mats]), ", ".join(m.name for m in mats[:2]))
