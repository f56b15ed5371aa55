"""The planner's cache: inspections, per-file block energies and per-pair inner products, so a
warm plan reads nothing.

PlanCache keys every figure by (real path, size, mtime_ns, analysis version): a file that changed
is recomputed, never served stale, and the plan says so. `to_dict`/`from_dict` give a JSON-able
form; the library keeps the same figures in its store (library/plan_cache_store.py).
"""

from __future__ import annotations

import os

from .analysis import ANALYSIS_VERSION
from .inspect import inspect_file
from .interference import stack_gram
from .taxonomy import block_order


def file_key(path: str):
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, ANALYSIS_VERSION)


class PlanCache:
    """Inspections, per-file block energies and per-pair inner products, by file_key."""

    def __init__(self):
        self.inspections: dict = {}
        self.diag: dict = {}        # key -> {"blocks": {label: e}, "text_encoders": {...}}
        self.pairs: dict = {}       # (key_a, key_b), key_a < key_b -> {"blocks", "text_encoders", "shared"}
        self.latest: dict = {}      # real path -> key last seen
        self.computed = 0           # stack_gram passes run (tests and benchmarks read it)

    def note_key(self, key) -> bool:
        """Remember `key` for its file; True when another version of the file was cached before."""
        old = self.latest.get(key[0])
        self.latest[key[0]] = key
        return old is not None and old != key

    def inspection(self, path: str, key):
        hit = self.inspections.get(key)
        if hit is None:
            hit = self.inspections[key] = inspect_file(path)
        return hit

    def gram(self, paths, keys) -> dict:
        """stack_gram's result for `paths` (keys alike), computing only what is missing."""
        n = len(paths)
        need = set()
        for i in range(n):
            if keys[i] not in self.diag:
                need.add(i)
            for j in range(i + 1, n):
                if _pair(keys[i], keys[j]) not in self.pairs:
                    need.update((i, j))
        if need:
            idx = sorted(need)
            g = stack_gram([paths[i] for i in idx])
            if not g["ok"]:
                return g
            self.computed += 1
            self._store([keys[i] for i in idx], g)
        return self._assemble(paths, keys)

    def _store(self, keys, g) -> None:
        shared = g["shared"]
        for a, ka in enumerate(keys):
            self.diag[ka] = {kind: {name: G[a][a] for name, G in g[kind].items() if G[a][a]}
                             for kind in ("blocks", "text_encoders")}
            for b in range(a + 1, len(keys)):
                kb = keys[b]
                pair = {kind: {name: G[a][b] for name, G in g[kind].items() if G[a][b]}
                        for kind in ("blocks", "text_encoders")}
                pair["shared"] = {name: s[a][b] for name, s in shared.items() if s[a][b]}
                self.pairs[_pair(ka, kb)] = pair

    def _assemble(self, paths, keys) -> dict:
        n = len(paths)
        out = {"blocks": {}, "text_encoders": {}}
        shared: dict = {}
        for kind in ("blocks", "text_encoders"):
            names = set()
            for key in keys:
                names.update(self.diag[key][kind])
            for name in names:
                G = [[0.0] * n for _ in range(n)]
                for i in range(n):
                    G[i][i] = self.diag[keys[i]][kind].get(name, 0.0)
                    for j in range(i + 1, n):
                        v = self.pairs[_pair(keys[i], keys[j])][kind].get(name, 0.0)
                        G[i][j] = G[j][i] = v
                out[kind][name] = G
        for i in range(n):
            for j in range(i + 1, n):
                for name, count in self.pairs[_pair(keys[i], keys[j])]["shared"].items():
                    s = shared.setdefault(name, [[0] * n for _ in range(n)])
                    s[i][j] = s[j][i] = count
        out["blocks"] = dict(sorted(out["blocks"].items(), key=lambda kv: block_order(kv[0])))
        out["text_encoders"] = dict(sorted(out["text_encoders"].items()))
        return {"ok": True, "paths": list(paths), "analysis_version": ANALYSIS_VERSION, **out, "shared": shared}

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-able copy of the Gram entries (inspections are cheap to redo and not kept)."""
        return {"analysis_version": ANALYSIS_VERSION,
                "diag": [[list(k), v] for k, v in sorted(self.diag.items())],
                "pairs": [[list(a), list(b), v] for (a, b), v in sorted(self.pairs.items())]}

    @classmethod
    def from_dict(cls, data: dict) -> "PlanCache":
        cache = cls()
        if data.get("analysis_version") != ANALYSIS_VERSION:
            return cache
        for k, v in data.get("diag", ()):
            cache.diag[tuple(k)] = v
        for a, b, v in data.get("pairs", ()):
            cache.pairs[_pair(tuple(a), tuple(b))] = v
        return cache


def _pair(a, b):
    return (a, b) if a <= b else (b, a)


#
