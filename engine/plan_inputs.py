"""Everything the planner needs, gathered from files: the stack's specs, each LoRA's role, the
compatibility check, and a cache of inspections and Gram entries so a warm plan reads nothing.

    parse_spec("a.safetensors:0.8:0.5")    -> ("a.safetensors", 0.8, 0.5)
    role_of(path, root=None)               -> (role or None, root used or None)
    cache = PlanCache()
    plan  = plan_files([("a.safetensors", 0.8, None), ...], policy="balanced", cache=cache)

Role = the LoRA's category folder: the first folder under its LoRA root (`<root>/<category>/...`),
not counting the LoRA's own folder (`<root>/<slug>/<file>` is a LoRA dropped at the root and
organized: no role). Whether a folder is the LoRA's own is the library's call (library/roles.py);
callers pass it. The root is `root` when given, else the nearest ancestor holding a
`.lora-atlas/` store; failing both, the nearest ancestor folder whose name is a known role
(KNOWN_ROLES) is the role. A file directly in the root, or outside it, has no role.

PlanCache keys every figure by (real path, size, mtime_ns, analysis version): a file that changed
is recomputed, never served stale, and the plan says so. `to_dict`/`from_dict` give a JSON-able
form for a store to persist.
"""

from __future__ import annotations

import os

from .analysis import ANALYSIS_VERSION
from .architecture import FAMILY
from .inspect import inspect_file
from .interference import stack_gram
from .planner import (DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, Entry, PlanError, check_number,
                      make_plan, validate_options)

KNOWN_ROLES = ("characters", "styles", "concepts", "poses", "clothing", "backgrounds", "effects")
STORE_DIR = ".lora-atlas"


def parse_spec(text: str):
    """FILE[:STRENGTH[:CLIP]] -> (path, strength text or None, clip text or None). A FILE that
    exists as given wins, so paths containing ':' still work."""
    if os.path.exists(text) or ":" not in text:
        return text, None, None
    head, _, last = text.rpartition(":")
    if os.path.exists(head) or ":" not in head:
        return head, last, None
    path, _, strength = head.rpartition(":")
    return path, strength, last


def find_root(path: str):
    """The nearest ancestor of `path` that holds a `.lora-atlas/` store, or None."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isdir(os.path.join(d, STORE_DIR)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def role_from_relpath(rel: str, own_folder: bool = False) -> str | None:
    """The role of a LoRA at `rel` ("/"-separated, relative to its root): the first folder above
    the LoRA's own folder (when `own_folder`) or above the file, unless there is none, or it is
    outside the root, hidden or a `_` folder (quarantine)."""
    parts = rel.split("/")
    folders = parts[:-2] if own_folder else parts[:-1]
    if not folders or folders[0] == ".." or folders[0].startswith((".", "_")):
        return None
    return folders[0]


def role_of(path: str, root: str | None = None, own_folder: bool = False):
    """(role, root) of a LoRA file (see the module docstring)."""
    root = root or find_root(path)
    if root is not None:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        return role_from_relpath(rel.replace(os.sep, "/"), own_folder), root
    d = os.path.dirname(os.path.abspath(path))
    while True:
        name = os.path.basename(d)
        if name in KNOWN_ROLES:
            return name, os.path.dirname(d)
        parent = os.path.dirname(d)
        if parent == d:
            return None, None
        d = parent


def family(architecture: str) -> str:
    return FAMILY.get(architecture, architecture)


# ---------------------------------------------------------------------------------------------


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
        from .interference import _block_order    # one ordering of block labels for the whole engine
        out["blocks"] = dict(sorted(out["blocks"].items(), key=lambda kv: _block_order(kv[0])))
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


# ---------------------------------------------------------------------------------------------


def plan_files(specs, *, policy: str = DEFAULT_POLICY, headroom: float = DEFAULT_HEADROOM,
               role_order=DEFAULT_ROLE_ORDER, root: str | None = None, roles: dict | None = None,
               profiles: dict | None = None, cache: PlanCache | None = None, role_of_file=None) -> dict:
    """Plan a stack given as (path, strength_model, strength_clip or None) triples (strengths may
    be text). `roles` overrides roles by path; the others come from `role_of_file(path, root)`
    (the library's, which knows own folders; by default `role_of` on the path alone).
    `profiles` maps a path to (name, {block: mult}).
    Bad files are excluded with their reason; every refusal is one PlanError listing them all."""
    cache = cache if cache is not None else PlanCache()
    problems = validate_options(policy, headroom, tuple(role_order))
    warnings, excluded, entries, keys = [], [], [], []
    seen = {}
    for path, strength, clip in specs:
        c, why_c = check_number(1.0 if strength is None else strength, f"{path}: strength")
        k, why_k = (None, None) if clip is None else check_number(clip, f"{path}: clip strength")
        problems += [w for w in (why_c, why_k) if w]
        real = os.path.realpath(path)
        if real in seen:
            problems.append(f"{path} is listed twice (also as {seen[real]}): give each LoRA once, with its strength")
            continue
        seen[real] = path
        if not os.path.isfile(path):
            excluded.append({"path": path, "error_code": "unreadable",
                             "reason": "not found" if not os.path.exists(path) else "not a file"})
            continue
        key = file_key(path)
        if cache.note_key(key):
            warnings.append(f"{path} changed since its figures were cached: recomputed")
        insp = cache.inspection(path, key)
        if not insp.ok:
            excluded.append({"path": path, "error_code": insp.error_code, "reason": insp.error})
            continue
        if insp.architecture == "unknown":
            excluded.append({"path": path, "error_code": "unknown_architecture",
                             "reason": "unknown architecture: not guessed (" + "; ".join(insp.evidence[:1]) + ")"})
            continue
        if roles and path in roles:
            role = roles[path]
        else:
            role = role_of_file(path, root) if role_of_file else role_of(path, root)[0]
        name, mults = (profiles or {}).get(path, (None, None))
        entries.append(Entry(path, c if c is not None else 1.0, insp, k, role, mults, name))
        keys.append(key)
    for x in excluded:
        warnings.append(f"{x['path']}: excluded ({x['error_code']}): {x['reason']}")
    problems += _compatibility(entries, warnings)
    if not entries and not problems:
        problems.append("empty stack: no usable LoRA" + (" (every file was excluded)" if excluded else ""))
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    g = cache.gram([e.path for e in entries], keys)
    if not g["ok"]:
        raise PlanError([f"cannot measure the stack: {g['error']}"])
    return make_plan(entries, g, policy=policy, headroom=headroom, role_order=role_order, excluded=excluded,
                     warnings=warnings)


def _compatibility(entries, warnings) -> list:
    """All LoRAs must load on one base: one architecture family (chroma is flux). SDXL files whose
    base-model hints differ (Pony, Illustrious, ...) share the architecture: a warning."""
    if not entries:
        return []
    first = entries[0]
    fam = family(first.inspection.architecture)
    problems = [f"{e.path} is {e.inspection.architecture}, but the stack is {first.inspection.architecture} "
                f"(from {first.path}): all LoRAs of a plan must load on one base model"
                for e in entries[1:] if family(e.inspection.architecture) != fam]
    hints = sorted({e.inspection.base_model_hint for e in entries if e.inspection.base_model_hint} if fam == "sdxl" else ())
    if len(hints) > 1:
        warnings.append(f"SDXL LoRAs trained on different bases ({', '.join(hints)}): they load together, "
                        "but each may look off on the others' checkpoint")
    return problems
