"""The planner's figures kept in the library's store, so a plan in a new process is warm.

engine.plan_cache.PlanCache keys figures by (real path, size, mtime_ns, analysis version). The
store keys the same figures by '<stable id>:<size>:<mtime_ns>' and the analysis version, so a
moved file stays warm and a changed file (new size or mtime) is recomputed; the plan then warns
"changed since its figures were cached: recomputed".

    ids   = stable_ids(store, root, paths)
    cache = warm_cache(store, paths, ids)          # before planning
    persist_cache(store, paths, ids, cache)        # after
"""

from __future__ import annotations

import json
import os

from ..engine.analysis import ANALYSIS_VERSION
from ..engine.plan_cache import PlanCache, file_key
from . import identity


def rel_to_root(root, path):
    """`path` relative to `root` with '/', or None when there is no root or it lies outside."""
    if not root:
        return None
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return None if rel.startswith("..") or os.path.isabs(rel) else rel.replace(os.sep, "/")


def stable_ids(store, root, paths) -> dict:
    """path -> stable id: the store's row when the file is unchanged since the last scan, else its
    fingerprint (library/identity.py). None for a file that cannot be read."""
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out[path] = None
            continue
        rel = rel_to_root(root, path)
        row = store.execute("SELECT lora_id, size, mtime_ns FROM files WHERE path = ?", (rel,)).fetchone() if rel else None
        if row is not None and (row["size"], row["mtime_ns"]) == (st.st_size, st.st_mtime_ns):
            out[path] = row["lora_id"]
            continue
        try:
            out[path] = identity.stable_id(identity.fingerprint(path)[0])
        except OSError:
            out[path] = None
    return out


def _store_key(lora_id, key) -> str:
    return f"{lora_id}:{key[1]}:{key[2]}"


def warm_cache(store, paths, ids: dict, cache: PlanCache | None = None) -> PlanCache:
    """A PlanCache holding every stored figure of `paths` (and their pairs) for their current size,
    mtime and analysis version. A file the store knew at another size or mtime is remembered, so
    the planner says it changed and was recomputed."""
    cache = cache if cache is not None else PlanCache()
    keys = {}
    for path in paths:
        if ids.get(path) is None or not os.path.isfile(path):
            continue
        key = file_key(path)
        keys[path] = (key, _store_key(ids[path], key))
        row = store.execute("SELECT data FROM plan_cache_files WHERE key = ? AND analysis_version = ?",
                            (keys[path][1], ANALYSIS_VERSION)).fetchone()
        if row is not None:
            cache.diag[key] = json.loads(row["data"])
            cache.latest[key[0]] = key
        else:
            old = store.execute("SELECT key FROM plan_cache_files WHERE path = ? AND analysis_version = ? LIMIT 1",
                                (key[0], ANALYSIS_VERSION)).fetchone()
            if old is not None:
                _, size, mtime = old["key"].rsplit(":", 2)
                cache.latest[key[0]] = (key[0], int(size), int(mtime), ANALYSIS_VERSION)
    known = sorted(keys.values(), key=lambda k: k[1])
    for i, (ka, sa) in enumerate(known):
        for kb, sb in known[i + 1:]:
            row = store.execute("SELECT data FROM plan_cache_pairs WHERE a = ? AND b = ? AND analysis_version = ?",
                                (sa, sb, ANALYSIS_VERSION)).fetchone()
            if row is not None:
                cache.pairs[(ka, kb) if ka <= kb else (kb, ka)] = json.loads(row["data"])
    return cache


def persist_cache(store, paths, ids: dict, cache: PlanCache) -> int:
    """Write the figures of `paths` the store does not have yet; returns how many rows."""
    keys = []
    for path in paths:
        if ids.get(path) is None or not os.path.isfile(path):
            continue
        key = cache.latest.get(os.path.realpath(path))
        if key is not None and key in cache.diag:
            keys.append((key, _store_key(ids[path], key)))
    written = 0
    with store.atomic():
        for key, skey in keys:
            cur = store.execute("INSERT OR IGNORE INTO plan_cache_files (key, analysis_version, path, data) "
                                "VALUES (?, ?, ?, ?)", (skey, ANALYSIS_VERSION, key[0],
                                                        json.dumps(cache.diag[key], sort_keys=True)))
            if cur.rowcount:
                written += 1
                stale = [r[0] for r in store.execute("SELECT key FROM plan_cache_files WHERE path = ? AND key != ?",
                                                     (key[0], skey))]
                for old in stale:                     # the file changed: its old figures are dead
                    store.execute("DELETE FROM plan_cache_files WHERE key = ?", (old,))
                    store.execute("DELETE FROM plan_cache_pairs WHERE a = ? OR b = ?", (old, old))
        keys.sort(key=lambda k: k[1])
        for i, (ka, sa) in enumerate(keys):
            for kb, sb in keys[i + 1:]:
                pair = cache.pairs.get((ka, kb) if ka <= kb else (kb, ka))
                if pair is not None and sa != sb:
                    cur = store.execute("INSERT OR IGNORE INTO plan_cache_pairs (a, b, analysis_version, data) "
                                        "VALUES (?, ?, ?, ?)", (sa, sb, ANALYSIS_VERSION, json.dumps(pair, sort_keys=True)))
                    written += cur.rowcount
    return written
