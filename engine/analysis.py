"""Per-block analysis: where a LoRA acts and how hard, measured from its weights.

For every module, the change ΔW that ComfyUI applies at strength 1 (engine.adapter_maths, never
materialised): its energy ‖ΔW‖²_F, spectral norm σ₁ and effective rank exp(H), H the entropy of
σᵢ²/Σσ². Modules are summed per Inspire position (the file's own `blocks`, as `inspect` lists
them), per group (BASE, IN, MID, OUT, DOUBLE, SINGLE) and per text encoder:

    energy          Σ of the modules' ‖ΔW‖²_F (+ ‖Δbias‖² for diff_b)
    share           energy / the file's total energy (diffusion model + text encoders)
    spectral_norm   max of the modules' σ₁
    effective_rank  energy-weighted mean of the modules' effective ranks
    modules         count

`blocks` covers the diffusion model only (BASE = its modules outside any block); text encoders are
in `text_encoders`, and `clip_share` is their share of the total. DoRA files report the low-rank
part (ComfyUI renormalises with the base weight). OFT/BOFT only rotate the base weight, so their
figures are relative (`units: "relative"`, engine.change_forms.Relative); GLoRA's W·a part is
given as `relative_energy` next to the absolute figures of its b·b part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .adapter_maths import Change, build_change
from .batched_lowrank import batched_figures
from .blas_threads import single_threaded_blas
from .change_forms import Spectrum
from .errors import AnalysisError, InspectError
from .inspect import inspect_with_facts
from .layout import Module
from .taxonomy import GROUP_ORDER, block_label, inspire_positions
from .tensor_source import Source

ANALYSIS_VERSION = 3   # 2: modules ComfyUI does not map are no longer measured; 3: diff_b and
                      # bias/norm diffs measured as ComfyUI applies them, the 2026 families
FIELDS = ("energy", "share", "spectral_norm", "effective_rank", "modules")


@dataclass
class Target:
    """Where one module's change lands. `key` matches the same module across files."""

    key: tuple          # (component, encoder, flat)
    module: Module
    encoder: str | None  # text encoder (clip_l, t5xxl, ...) or None for the diffusion model
    block: str          # BASE, IN4, DOUBLE7, ... (diffusion model) or the encoder name
    position: str | None  # Inspire position label ("MID1+OUT1" when merged); None for encoders


class OpenedLora:
    """A LoRA file ready for analysis: its inspection, its modules' targets, and its tensors
    through a memory map. Use as a context manager."""

    def __init__(self, path: str):
        inspection, header, facts = inspect_with_facts(path)
        if not inspection.ok:
            error = InspectError(inspection.error)
            error.code = inspection.error_code
            raise error
        self.path = path
        self.inspection = inspection
        self.architecture = inspection.architecture
        self.source = Source(path, header)
        self.targets = _targets(facts.placements(self.architecture, inspection.variant)[0])

    def change(self, target: Target) -> Change:
        return build_change(target.module.adapter, target.module.roles, self.source)

    def close(self):
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _targets(placed) -> list:
    """Targets of the modules ComfyUI loads (engine.inspect's placement), each with its Inspire
    position label (merged positions "MID1+OUT1" included)."""
    label_of = {}
    for position in inspire_positions(b for _, enc, b in placed if enc is None and b is not None):
        for block in position:
            label_of[block] = "+".join(block_label(b) for b in position)
    return [Target((m.name.component, enc, m.name.flat), m, enc, enc or block_label(b),
                   None if enc else label_of.get(b, "BASE")) for m, enc, b in placed]


# ---------------------------------------------------------------------------------------------


class _Sum:
    """Running figures of a set of modules (absolute and relative kept apart)."""

    __slots__ = ("energy", "spectral", "erank", "modules", "rel_energy", "rel_spectral", "rel_erank")

    def __init__(self):
        self.energy = self.spectral = self.erank = 0.0
        self.rel_energy = self.rel_spectral = self.rel_erank = 0.0
        self.modules = 0

    def add(self, fig: dict) -> None:
        self.modules += 1
        e = fig["energy"]
        self.energy += e
        self.spectral = max(self.spectral, fig["spectral_norm"])
        self.erank += e * fig["effective_rank"]
        rel = fig.get("relative")
        if rel:
            self.rel_energy += rel["energy"]
            self.rel_spectral = max(self.rel_spectral, rel["spectral_norm"])
            self.rel_erank += rel["energy"] * rel["effective_rank"]

    def out(self, total: float, relative_units: bool, with_relative: bool) -> dict:
        if relative_units:
            e, s, r = self.rel_energy, self.rel_spectral, self.rel_erank
        else:
            e, s, r = self.energy, self.spectral, self.erank
        d = {"energy": e, "share": e / total if total > 0 else 0.0, "spectral_norm": s,
             "effective_rank": r / e if e > 0 else 0.0, "modules": self.modules}
        if with_relative:
            d["relative_energy"] = self.rel_energy
        return d


def spectrum_figures(spec: Spectrum) -> dict:
    return {"energy": spec.energy, "spectral_norm": spec.spectral_norm, "effective_rank": spec.effective_rank,
            "approximate": spec.approximate}


def module_figures(change: Change) -> dict:
    """{energy, spectral_norm, effective_rank, approximate, relative?} of one module's change."""
    fig = {"energy": 0.0, "spectral_norm": 0.0, "effective_rank": 0.0, "approximate": False}
    if change.form is not None:
        fig.update(spectrum_figures(change.form.spectrum()))
    if change.bias is not None:
        bias = change.bias.spectrum().energy
        fig["energy"] += bias
        if change.form is None:   # a bias-only change is one vector
            fig.update(spectral_norm=math.sqrt(bias), effective_rank=1.0 if bias > 0 else 0.0)
    if change.relative is not None:
        fig["relative"] = change.relative.figures()
    return fig


def analyze_file(path: str, *, detail: bool = False) -> dict:
    """The per-block analysis of one file as plain data. A file that cannot be analysed gives
    ok=False with a one-line `error` and an `error_code`; it never raises for bad input."""
    try:
        with OpenedLora(path) as lora, single_threaded_blas():
            return _analyze(lora, detail)
    except BAD_FILE_ERRORS as exc:
        return _failed(path, *failure(exc))


# What reading and measuring a bad file may raise; every face turns it into (reason, error_code).
BAD_FILE_ERRORS = (InspectError, ValueError, ArithmeticError, MemoryError, OSError)


def failure(exc: Exception) -> tuple:
    """(one-line reason, error_code) of a BAD_FILE_ERRORS exception."""
    if isinstance(exc, InspectError):
        return exc.reason, exc.code
    return f"analysis failed: {exc}", "analysis_failed"


def _failed(path, reason, code) -> dict:
    return {"path": path, "ok": False, "error": reason, "error_code": code, "architecture": None,
            "analysis_version": ANALYSIS_VERSION, "units": None, "total_energy": None, "clip_share": None,
            "blocks": None, "groups": None, "text_encoders": None, "notes": []}


def _analyze(lora: OpenedLora, detail: bool) -> dict:
    return _result(lora, _measure(lora, detail), detail)


@dataclass
class _Tally:
    """One file's module figures summed per Inspire position, group and text encoder, the notes
    (text -> modules) and, with `detail`, one row per module."""

    positions: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    encoders: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    modules: list = field(default_factory=list)
    has_abs: bool = False
    has_rel: bool = False

    def add(self, target: Target, fig: dict, detail: bool) -> None:
        if target.encoder:
            self.encoders.setdefault(target.encoder, _Sum()).add(fig)
        else:
            self.positions.setdefault(target.position, _Sum()).add(fig)
            group = "BASE" if target.block == "BASE" else target.block.rstrip("0123456789")
            self.groups.setdefault(group, _Sum()).add(fig)
        if detail:
            self.modules.append({"name": target.module.name.raw, "block": target.block, "position": target.position,
                                 "encoder": target.encoder, "adapter": target.module.adapter, **fig})


def _measure(lora: OpenedLora, detail: bool) -> _Tally:
    """Every target's figures: plain LoRA modules in batches, the others one change at a time."""
    tally = _Tally()
    batched = batched_figures(lora.source, lora.targets, spectrum_figures)
    for index, target in enumerate(lora.targets):
        fig = batched.get(index)
        if fig is not None:          # a plain LoRA module, measured with others of its shape
            tally.has_abs = True
        else:
            try:
                change = lora.change(target)
                fig = module_figures(change)
                lora.source.release()
            except AnalysisError as exc:
                raise type(exc)(f"module '{target.module.name.raw}': {exc.reason}") from None
            if change.note:
                tally.notes[change.note] = tally.notes.get(change.note, 0) + 1
            tally.has_abs |= change.form is not None or change.bias is not None
            tally.has_rel |= change.relative is not None
        tally.add(target, fig, detail)
    return tally


def _result(lora: OpenedLora, tally: _Tally, detail: bool) -> dict:
    """The analysis document from the sums: absolute units unless every change is relative."""
    positions, groups, encoders, notes = tally.positions, tally.groups, tally.encoders, tally.notes
    relative_units = tally.has_rel and not tally.has_abs
    with_relative = tally.has_rel and tally.has_abs
    unet, te = _Sum(), _Sum()
    for s in groups.values():
        _merge(unet, s)
    for s in encoders.values():
        _merge(te, s)
    pick = (lambda s: s.rel_energy) if relative_units else (lambda s: s.energy)
    total = pick(unet) + pick(te)

    def out(s):
        return s.out(total, relative_units, with_relative)

    insp = lora.inspection
    if insp.dora:
        notes["DoRA: figures are the low-rank part; ComfyUI rescales by dora_scale over the base weight's norms"] = 1
    result = {
        "path": lora.path, "ok": True, "error": None, "error_code": None,
        "architecture": lora.architecture, "adapter": insp.adapter, "dora": insp.dora,
        "analysis_version": ANALYSIS_VERSION,
        "units": "relative" if relative_units else "absolute",
        "total_energy": total, "unet_energy": pick(unet), "text_encoder_energy": pick(te),
        "clip_share": pick(te) / total if total > 0 else 0.0,
        "blocks": [{"name": name, **out(positions.get(name, _Sum()))} for name in insp.blocks],
        "groups": {g: out(groups[g]) for g in ("BASE",) + GROUP_ORDER if g in groups},
        "text_encoders": {e: out(encoders[e]) for e in insp.text_encoder if e in encoders},
        "notes": [f"{n} module(s): {text}" if n > 1 else text for text, n in sorted(notes.items())],
    }
    if with_relative:
        result["relative_energy"] = unet.rel_energy + te.rel_energy
    if detail:
        result["modules"] = tally.modules
    return result


def _merge(into: _Sum, s: _Sum) -> None:
    into.modules += s.modules
    into.energy += s.energy
    into.erank += s.erank
    into.spectral = max(into.spectral, s.spectral)
    into.rel_energy += s.rel_energy
    into.rel_erank += s.rel_erank
    into.rel_spectral = max(into.rel_spectral, s.rel_spectral)


def round_figures(document, digits: int = 6):
    """A copy of a result with every float rounded to `digits` significant digits (what the CLI
    prints, so the JSON is the same on every machine and BLAS)."""
    if isinstance(document, float):
        return float(f"{document:.{digits}g}") if math.isfinite(document) else None
    if isinstance(document, dict):
        return {k: round_figures(v, digits) for k, v in document.items()}
    if isinstance(document, list):
        return [round_figures(v, digits) for v in document]
    return document
