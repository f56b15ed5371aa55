"""The library's block table: one row per LoRA file per Inspire block (and per text encoder) with
energy, share, spectral norm, effective rank and module count, from the store's analysis cache
(library/analysis_cache.py); figures rounded to 6 significant digits."""

from __future__ import annotations

from ..engine.analysis import round_figures
from .analysis_cache import cached_analyses
from .plan_exports import canonical_json, check_format, csv_text
from .scan import load_rows, scan

FORMATS = ("json", "csv")
BLOCK_CSV = ("path", "id", "architecture", "adapter", "kind", "block", "energy", "share", "spectral_norm",
             "effective_rank", "modules")


def block_table(store, root: str, progress=None, persist: bool = True) -> list:
    """One row per LoRA file per block (and per text encoder), from the store's cached analyses;
    the library is scanned first and missing analyses are computed (and kept when `persist`)."""
    scan(store, root)
    files = [r for r in load_rows(store) if r["ok"]]
    analyses = cached_analyses(store, root, files, progress, persist)
    rows = []
    for r in files:
        a = round_figures(analyses[r["lora_id"]], 6)
        if not a.get("ok"):
            continue
        base = {"path": r["path"], "id": r["lora_id"], "architecture": a.get("architecture"), "adapter": a.get("adapter")}
        for b in a.get("blocks") or []:
            rows.append(base | {"kind": "block", "block": b["name"], **_figures(b)})
        for name, t in sorted((a.get("text_encoders") or {}).items()):
            rows.append(base | {"kind": "text_encoder", "block": name, **_figures(t)})
    return rows


def _figures(d: dict) -> dict:
    return {k: d.get(k) for k in ("energy", "share", "spectral_norm", "effective_rank", "modules")}


def export_block_table(rows: list, fmt: str = "csv") -> str:
    """The block table as CSV (BLOCK_CSV columns, floats to 6 significant digits) or JSON."""
    check_format(fmt, FORMATS)
    if fmt == "json":
        return canonical_json(rows).decode()

    def cell(v):
        return "" if v is None else f"{v:.6g}" if isinstance(v, float) else v
    return csv_text(BLOCK_CSV, [[cell(r[c]) for c in BLOCK_CSV] for r in rows])
