"""Read-side queries over a library's store: the listing rows the routes and nodes show, search,
filters, sort and pagination. Pure functions over `scan.load_rows` output plus one folder listing
per folder (for previews); nothing here writes.

    items = index_items(root, load_rows(store))            # one dict per LoRA file
    total, page = query(items, q="ink", architecture="sdxl", offset=0, limit=50)
"""

from __future__ import annotations

import os
from collections import Counter

from .config_files import CONFIG_NAME, existing_preview, listing_fields, listing_fields_of_config
from .errors import OutsideRoots
from .roles import role_in_root
from .roots import within_root
from .scan import QUARANTINE_DIR

SORT_KEYS = ("name", "path", "architecture", "adapter", "role", "size")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class QueryError(ValueError):
    """A bad listing request; the message names the parameter."""


def index_items(root: str, rows: list, root_index: int = 0) -> list:
    """Listing items of one root, sorted by path. `id` is the stable id (shared by duplicates)."""
    listings: dict = {}
    loras_in = Counter(r["path"].rpartition("/")[0] for r in rows)
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
        has_config = CONFIG_NAME in names and bool(folder)
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
            "role": role_in_root(rel, loras_in[folder], CONFIG_NAME in names),
            "ok": bool(r.get("ok")),
            "error": r.get("error"),
            "quarantined": rel.split("/")[0] == QUARANTINE_DIR,
            "has_preview": preview is not None,
            "preview": f"{folder}/{preview}" if preview and folder else preview,
            "has_config": has_config,
            "size": r.get("size"),
            "trigger_words": insp.get("trigger_words") or [],
            "blocks": insp.get("blocks") or [],
            **(_from_config(root, folder) if has_config else listing_fields(None)),
            "_search": " ".join([rel, insp.get("title") or "", *(insp.get("trigger_words") or [])]).casefold(),
        })
    return items


def _from_config(root: str, folder: str) -> dict:
    """civitai_url, nsfw_level, nsfw and tags from the LoRA's config.yaml (so the panel can link,
    blur and filter by tag without opening each detail); a config.yaml that is a link leading
    outside the root is not read."""
    try:
        path = within_root(root, os.path.join(root, folder, CONFIG_NAME))
    except OutsideRoots:
        return listing_fields(None)
    return listing_fields_of_config(path)


def public(item: dict) -> dict:
    """The item without its private fields (cached in the item: items are never mutated)."""
    hit = item.get("_public")
    if hit is None:
        hit = item["_public"] = {k: v for k, v in item.items() if not k.startswith("_")}
    return hit


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


class Index:
    """Listing items with what makes queries cheap on 10,000+ LoRAs: per-field position sets,
    one case-folded text for substring search, cached sort orders and word matches."""

    FIELDS = ("architecture", "role", "adapter", "ok")

    def __init__(self, items: list):
        self.items = items
        self.by = {f: {} for f in self.FIELDS}
        for i, it in enumerate(items):
            for f in self.FIELDS:
                self.by[f].setdefault(it[f], set()).add(i)
        self.text = "\n".join(it["_search"].replace("\n", " ") for it in items)
        self.starts = []
        pos = 0
        for it in items:
            self.starts.append(pos)
            pos += len(it["_search"]) + 1
        self._orders: dict = {}
        self._words: dict = {}

    def word(self, w: str) -> set:
        """Positions of the items whose search text contains `w`."""
        hit = self._words.get(w)
        if hit is None:
            from bisect import bisect_right
            hit, text, starts, at = set(), self.text, self.starts, 0
            while True:
                at = text.find(w, at)
                if at < 0:
                    break
                i = bisect_right(starts, at) - 1
                hit.add(i)
                at = starts[i + 1] if i + 1 < len(starts) else len(text)
            if len(self._words) > 1024:
                self._words.clear()
            self._words[w] = hit
        return hit

    def rank(self, sort: str) -> dict:
        """position -> its place in `sort` order (cached)."""
        hit = self._orders.get("#" + sort)
        if hit is None:
            hit = self._orders["#" + sort] = {p: r for r, p in enumerate(self.order(sort))}
        return hit

    def order(self, sort: str) -> list:
        """Item positions in `sort` order (cached)."""
        hit = self._orders.get(sort)
        if hit is None:
            key = sort.lstrip("-")
            items = self.items
            if key == "path":
                hit = list(range(len(items)))
            else:
                hit = sorted(range(len(items)), key=lambda i: (items[i][key] is None,
                                                               items[i][key] if items[i][key] is not None else "",
                                                               items[i]["path"]))
            if sort.startswith("-"):
                hit.reverse()
            self._orders[sort] = hit
        return hit


def query(items, *, q=None, architecture=None, role=None, adapter=None, ok=None, sort=None, offset=None,
          limit=None) -> tuple[int, list]:
    """(total matching, the requested page). `items` is a list of index_items or an Index. `q`
    matches every word (case-insensitive) against the path, title and trigger words; `sort` is a
    SORT_KEYS name, '-' first for descending."""
    index = items if isinstance(items, Index) else Index(items)
    q = _text(q, "q")
    architecture, role, adapter = (_text(v, n, 64) for v, n in ((architecture, "architecture"), (role, "role"),
                                                               (adapter, "adapter")))
    offset = _int(offset, "offset", 0, 0, 10**9)
    limit = _int(limit, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    sort = _text(sort, "sort", 32) or "path"
    if sort.lstrip("-") not in SORT_KEYS:
        raise QueryError(f"sort: one of {', '.join(SORT_KEYS)} (prefix '-' for descending), got {sort!r}")
    if ok not in (None, ""):
        if str(ok).lower() not in ("0", "1", "true", "false"):
            raise QueryError(f"ok: expected 1 or 0, got {ok!r}")
        ok = str(ok).lower() in ("1", "true")
    else:
        ok = None
    sets = [index.by[f].get(v, set()) for f, v in (("architecture", architecture), ("role", role),
                                                   ("adapter", adapter), ("ok", ok)) if v is not None]
    sets += [index.word(w) for w in (q.casefold().split() if q else [])]
    order = index.order(sort)
    if not sets:
        return len(order), [index.items[i] for i in order[offset:offset + limit]]
    sets.sort(key=len)
    chosen = set(sets[0]).intersection(*sets[1:]) if len(sets) > 1 else sets[0]
    if len(chosen) * 8 < len(order):
        rank = index.rank(sort)
        ordered = sorted(chosen, key=rank.__getitem__)
    else:
        ordered = [i for i in order if i in chosen]
    return len(ordered), [index.items[i] for i in ordered[offset:offset + limit]]
