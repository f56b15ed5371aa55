"""The one analysis cache: engine.analysis results kept in the library's store, keyed by stable id
and analysis version (DESIGN: "cached by stable id + analysis version"), so a LoRA is measured once
whatever face asks (the detail route, the Browser, the block table) and a moved file stays warm.

    data = cached_analysis(store, root, lora_id, rel)          # analyze_file's dict, without "path"
    many = cached_analyses(store, root, rows, progress)        # {lora_id: dict}, missing ones computed

Rows keep analyze_file's own figures (full precision, its key order); readers that print round
(engine.analysis.round_figures). A store opened read-only (a writer is busy) still answers: what
is computed is returned and simply not kept.
"""

from __future__ import annotations

import os

import orjson

from ..engine.analysis import ANALYSIS_VERSION, analyze_file

_VERSION = str(ANALYSIS_VERSION)


def _load(store, lora_ids=None) -> dict:
    rows = store.execute("SELECT lora_id, data FROM analysis WHERE analysis_version = ?", (_VERSION,))
    return {r[0]: r[1] for r in rows if lora_ids is None or r[0] in lora_ids}


def _measure(root: str, rel: str) -> tuple[dict, bytes]:
    result = analyze_file(os.path.join(root, rel))
    result.pop("path", None)
    return result, orjson.dumps(result)


def cached_analyses(store, root: str, rows, progress=None, persist: bool = True) -> dict:
    """{lora_id: analysis} for `rows` (dicts with "lora_id" and "path" relative to `root`)."""
    cached = _load(store)
    out, todo = {}, []
    for i, r in enumerate(rows):
        data = cached.get(r["lora_id"])
        if data is None:
            if progress:
                progress("analyze", i, len(rows), r["path"])
            out[r["lora_id"]], data = _measure(root, r["path"])
            cached[r["lora_id"]] = data
            todo.append((r["lora_id"], _VERSION, data))
        else:
            out[r["lora_id"]] = orjson.loads(data)
    if todo and persist:
        with store.atomic():
            store.executemany("INSERT OR REPLACE INTO analysis (lora_id, analysis_version, data) VALUES (?, ?, ?)", todo)
    return out


def cached_analysis(store, root: str, lora_id: str, rel: str, persist: bool = True) -> dict:
    """The analysis of one LoRA (its stable id and path relative to `root`)."""
    row = store.execute("SELECT data FROM analysis WHERE lora_id = ? AND analysis_version = ?",
                        (lora_id, _VERSION)).fetchone()
    if row is not None:
        return orjson.loads(row[0])
    return cached_analyses(store, root, [{"lora_id": lora_id, "path": rel}], persist=persist)[lora_id]
