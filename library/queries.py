"""Read-side queries over a library's store: the listing rows the routes and nodes show, search,
filters, sort and pagination. Pure functions over `scan.load_rows` output plus one folder listing
per folder (for previews); nothing here writes.

    items = index_items(root, load_rows(store))            # one dict per LoRA file
    total, page = query(items, q="ink", architecture="sdxl", offset=0, limit=50)
"""

from __future__ import annotations

import os

from .config_files import CONFIG_NAME, existing_preview
from .scan import QUARANTINE_DIR

SORT_KEYS = ("name", "path", "architecture", "adapter", "role", "size")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class QueryError(ValueError):
    """A bad listing request; the message names the parameter."""


def role_of_path(rel: str) -> str | None:
    """The category (first folder under the root) of a LoRA at `rel`, as plan_inputs.role_of says."""
    parts = rel.split("/")
    if len(parts) < 2 or parts[0].startswith((".", "_")):
        return None
    return parts[0]


def index_items(root: str, rows: list, root_index: int = 0) -> list:
    """Listing items of one root, sorted by path. `id` is the stable id (shared by duplicates)."""
    listings: dict = {}
    items = []
    for r in rows:
        rel = r["path"]
        folder, _, filename = rel.rpartition("/")
        names = listings.get(folder)
        if names is None:
            try:
                names = listings[folder] = frozenset(os.listdir(os.path.join(root, folder) if folder else root))
            except OSError:
                names = listings[folder] = frozenset()
        insp = r.get("inspection") or {}
        stem = os.path.splitext(filename)[0]
        preview = existing_preview("", stem, names)
        items.append({
            "id": r["lora_id"],
            "name": insp.get("title") or stem,
            "path": rel,
            "root": root_index,
            "lora_name": rel.replace("/", os.sep),
            "architecture": insp.get("architecture"),
            "variant": insp.get("variant"),
            "adapter": insp.get("adapter"),
            "base_model_hint": insp.get("base_model_hint"),
            "role": role_of_path(rel),
            "ok": bool(r.get("ok")),
            "error": r.get("error"),
            "quarantined": rel.split("/")[0] == QUARANTINE_DIR,
            "has_preview": preview is not None,
            "preview": f"{folder}/{preview}" if preview and folder else preview,
            "has_config": CONFIG_NAME in names and bool(folder),
            "size": r.get("size"),
            "trigger_words": insp.get("trigger_words") or [],
            "blocks": insp.get("blocks") or [],
            "_search": " ".join([rel, insp.get("title") or "", *(insp.get("trigger_words") or [])]).casefold(),
        })
    return items


def public(item: dict) -> dict:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _text(value, name: str, limit: int = 200) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise QueryError(f"{name}: expected text")
    if len(value) > limit:
        raise QueryError(f"{name}: at most {limit} characters")
    return value


def _int(value, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name}: expected a whole number, got {value!r}") from None
    if not lo <= n <= hi:
        raise QueryError(f"{name}: must be between {lo} and {hi}, got {n}")
    return n


def query(items: list, *, q=None, architecture=None, role=None, adapter=None, ok=None, sort=None, offset=None,
          limit=None) -> tuple[int, list]:
    """(total matching, the requested page). `q` matches every word (case-insensitive) against the
    path, title and trigger words; `sort` is a SORT_KEYS name, '-' first for descending."""
    q = _text(q, "q")
    architecture, role, adapter = (_text(v, n, 64) for v, n in ((architecture, "architecture"), (role, "role"),
                                                               (adapter, "adapter")))
    offset = _int(offset, "offset", 0, 0, 10**9)
    limit = _int(limit, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    sort = _text(sort, "sort", 32) or "path"
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        raise QueryError(f"sort: one of {', '.join(SORT_KEYS)} (prefix '-' for descending), got {sort!r}")
    if ok not in (None, ""):
        if str(ok).lower() not in ("0", "1", "true", "false"):
            raise QueryError(f"ok: expected 1 or 0, got {ok!r}")
        ok = str(ok).lower() in ("1", "true")
    else:
        ok = None
    words = q.casefold().split() if q else []
    out = [it for it in items
           if (architecture is None or it["architecture"] == architecture)
           and (role is None or it["role"] == role)
           and (adapter is None or it["adapter"] == adapter)
           and (ok is None or it["ok"] == ok)
           and all(w in it["_search"] for w in words)]
    if key != "path":
        out.sort(key=lambda it: (it[key] is None, it[key] if it[key] is not None else "", it["path"]),
                 reverse=sort.startswith("-"))
    elif sort.startswith("-"):
        out.reverse()
    return len(out), out[offset:offset + limit]
