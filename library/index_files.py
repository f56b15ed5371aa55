"""`index.json` and `preview_config.json` at the library root.

`index.json` keeps the seed's shape, one entry per LoRA keyed by its folder's slug:
`{"<slug>": {"filename", "folder", "compatible", "format", "has_preview", "has_config", "organized_at",
...}}` plus `id`, `role`, `architecture`, `adapter`, `base_model_hint`, `sha256`; quarantined files have
`"compatible": false` and a `reason`. It is always rebuilt from the store right after a scan, so
the two agree; it is written atomically, keys sorted.

`preview_config.json` holds the global preview settings and one template per architecture family
(library/previews/settings.py) with defaults filled in; values a person set are kept, unknown fields too.
"""

from __future__ import annotations

import json
import os

from ..engine.safetensors_header import NotRegularFile
from .fs_safety import read_bytes

INDEX_NAME = "index.json"
PREVIEW_CONFIG_NAME = "preview_config.json"



class JsonUnreadable(ValueError):
    pass


def dumps(doc) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_json(path: str):
    """Parsed JSON, None if absent, JsonUnreadable (with line) if it is not valid JSON or not a
    regular file (a FIFO is never opened)."""
    try:
        raw = read_bytes(path)
    except NotRegularFile as exc:
        raise JsonUnreadable(exc.reason) from None
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise JsonUnreadable("not valid JSON" + (f" (line {line})" if line else "")) from None


def index_entry(*, filename: str, folder: str, compatible: bool, has_preview: bool, has_config: bool,
                organized_at, lora_id: str, inspection: dict | None, role=None, sha256=None, reason=None) -> dict:
    insp = inspection or {}
    entry = {
        "filename": filename,
        "folder": folder,
        "compatible": compatible,
        "format": os.path.splitext(filename)[1].lstrip(".").lower(),
        "has_preview": has_preview,
        "has_config": has_config,
        "organized_at": organized_at,
        "id": lora_id,
        "role": role,
        "architecture": insp.get("architecture"),
        "adapter": insp.get("adapter"),
        "base_model_hint": insp.get("base_model_hint"),
        "sha256": sha256,
    }
    if reason is not None:
        entry["reason"] = reason
        entry["error"] = insp.get("error")
    return entry


def keyed(entries: list) -> dict:
    """[(slug, entry)] → {slug: entry}, slugs made unique in folder order."""
    out = {}
    for slug, entry in sorted(entries, key=lambda se: (se[1]["folder"], se[1]["filename"])):
        key, n = slug, 2
        while key in out:
            key, n = f"{slug}-{n}", n + 1
        out[key] = entry
    return dict(sorted(out.items()))


def preview_config(existing) -> dict:
    """Defaults filled into what the file already holds (which wins): previews/settings.py."""
    from .previews.settings import with_defaults   # previews.settings reads files through this module
    return with_defaults(existing)
