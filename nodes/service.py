"""The state behind the routes and the nodes: the LoRA roots, a listing cache per root, path
confinement, plans, profiles and background library jobs. Plain Python (no aiohttp, no ComfyUI):
`routes.py` calls it through a thread boundary, nodes call it directly.

    service = AtlasService(lambda: ["/models/loras"], send=lambda event, data: ...)
    service.items()                          # every LoRA of every root (cached; refreshed on change)
    service.start_job("organize", 0, {})     # background; progress through `send`

Freshness: a root's listing is rebuilt when its store file changes or a job of ours finishes; a
root is rescanned in the background when its listing is older than `rescan_interval` seconds, so
files dropped in by hand show up without a restart and nothing blocks ComfyUI's start.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..library import operations
from ..library.errors import LibraryBusy, LibraryError
from ..library.queries import index_items
from ..library.scan import load_rows
from ..library.store import DB_NAME, STATE_DIR, Store
from .errors import ApiError

JOB_ACTIONS = ("scan", "check", "organize", "clean", "reconcile", "undo")
WRITERS = frozenset({"organize", "clean", "undo", "reconcile-repair"})
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
EVENT_JOB = "lora-atlas.job"
EVENT_LIBRARY = "lora-atlas.library"


# --- path confinement ------------------------------------------------------------------------

def inside(path: str, root: str) -> bool:
    """Whether the real path `path` lies in the real folder `root` (or is it)."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def confine(roots: list, path, root_index=None, *, must_exist: bool = True) -> tuple[int, str, str]:
    """(root index, path relative to it with '/', real absolute path) of a user-given `path`.

    A relative path is taken under `root_index` (or the first root where it exists); an absolute
    one must already lie inside a root. `..` segments, NUL bytes, backslashes and anything whose
    real path (symlinks resolved) leaves its root are refused with 403/400."""
    if not isinstance(path, str) or not path:
        raise ApiError(400, "path: expected a non-empty text")
    if "\0" in path or len(path) > 4096:
        raise ApiError(400, "path: invalid characters or too long")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise ApiError(403, f"path {path!r}: '..' is not allowed; give a path inside a LoRA root")
    if not roots:
        raise ApiError(404, "no LoRA root is configured")
    if root_index is not None:
        if not isinstance(root_index, int) or isinstance(root_index, bool) or not 0 <= root_index < len(roots):
            raise ApiError(400, f"root: expected an index between 0 and {len(roots) - 1}")
    candidates = []
    if os.path.isabs(path) or path.startswith("/"):
        real = os.path.realpath(path)
        for i, root in enumerate(roots):
            if (root_index is None or i == root_index) and inside(os.path.realpath(path.rstrip("/")), root) \
                    and inside(real, root):
                candidates.append((i, root, real))
        if not candidates:
            raise ApiError(403, f"path {path!r} is outside the configured LoRA roots")
    else:
        for i, root in enumerate(roots):
            if root_index is not None and i != root_index:
                continue
            real = os.path.realpath(os.path.join(root, path))
            if not inside(real, root):
                raise ApiError(403, f"path {path!r} leaves its LoRA root (a link pointing outside?)")
            candidates.append((i, root, real))
    for i, root, real in candidates:
        if not must_exist or os.path.exists(real):
            return i, os.path.relpath(real, root).replace(os.sep, "/"), real
    raise ApiError(404, f"path {path!r}: no such file in the LoRA roots")


# --- the service -----------------------------------------------------------------------------

class AtlasService:
    def __init__(self, roots, *, send=None, on_files_changed=None, rescan_interval: float = 30.0,
                 auto_scan: bool = True, workers: int = 4):
        self._roots_fn = roots if callable(roots) else (lambda r=list(roots): r)
        self.send = send or (lambda event, data: None)
        self.on_files_changed = on_files_changed or (lambda: None)
        self.rescan_interval = rescan_interval
        self.auto_scan = auto_scan
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lora-atlas")
        self._job_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lora-atlas-job")
        self._lock = threading.RLock()
        self._cache: dict = {}          # root -> (signature, built_at, items)
        self._generation: dict = {}     # root -> int, bumped after our own writes
        self._scanning: set = set()
        self._jobs: dict = {}
        self._job_ids = itertools.count(1)
        self._combined = (None, None)
        self._analyses: dict = {}
        self._plan_cache = None

    # -- roots ---------------------------------------------------------------------------------

    def roots(self) -> list:
        out = []
        for r in self._roots_fn() or []:
            real = os.path.realpath(r)
            if os.path.isdir(real) and real not in out:
                out.append(real)
        return out

    def root(self, index) -> str:
        roots = self.roots()
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(roots):
            raise ApiError(400, f"root: expected an index between 0 and {max(0, len(roots) - 1)}"
                           if roots else "no LoRA root is configured")
        return roots[index]

    # -- listing -------------------------------------------------------------------------------

    def _signature(self, root: str):
        sig = [self._generation.get(root, 0)]
        for name in (DB_NAME, DB_NAME + "-wal"):
            try:
                st = os.stat(os.path.join(root, STATE_DIR, name))
                sig.append((st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def root_items(self, root: str, index: int) -> list:
        sig = self._signature(root)
        hit = self._cache.get(root)
        if hit is not None and hit[0] == sig:
            if self.auto_scan and time.monotonic() - hit[1] > self.rescan_interval:
                self.scan_in_background(root)
            return hit[2]
        if sig[1] is None:
            if self.auto_scan:
                self.scan_in_background(root)
            items = []
        else:
            with Store.snapshot(root) as store:
                items = index_items(root, load_rows(store), index)
        with self._lock:
            self._cache[root] = (sig, time.monotonic(), items)
        return items

    def items(self) -> list:
        """Every LoRA of every root (root order, then path). Rebuilt only when a root changed."""
        return self.index().items

    def fresh_index(self):
        """The cached Index when no root changed since it was built (cheap: a few stats), else None."""
        key, index = self._combined
        if index is None:
            return None
        roots = self.roots()
        if len(roots) != len(key):
            return None
        for root, part in zip(roots, key):
            hit = self._cache.get(root)
            if hit is None or id(hit[2]) != part or hit[0] != self._signature(root) or \
                    (self.auto_scan and time.monotonic() - hit[1] > self.rescan_interval):
                return None
        return index

    def index(self):
        """library.queries.Index over items(); rebuilt only when a root changed."""
        from ..library.queries import Index
        roots = self.roots()
        parts = [self.root_items(r, i) for i, r in enumerate(roots)]
        key = tuple(id(p) for p in parts)
        combined = self._combined
        if combined[0] != key:
            combined = self._combined = (key, Index([it for p in parts for it in p]))
        return combined[1]

    @property
    def scanning(self) -> bool:
        return bool(self._scanning)

    def scan_now(self, root: str) -> dict:
        """Scan `root` into its store (sync) and return the report."""
        with self._lock:
            self._scanning.add(root)
        try:
            report = operations.scan_library(root)
        finally:
            with self._lock:
                self._scanning.discard(root)
                self._generation[root] = self._generation.get(root, 0) + 1
        return report.to_dict()

    def scan_in_background(self, root: str) -> None:
        with self._lock:
            if root in self._scanning:
                return
            self._scanning.add(root)
            if root in self._cache:           # do not ask again before this scan ends
                sig, _, items = self._cache[root]
                self._cache[root] = (sig, time.monotonic(), items)

        def work():
            try:
                report = operations.scan_library(root)
                changed = bool(report.new or report.changed or report.moved or report.vanished)
            except LibraryError:
                changed = False
            finally:
                with self._lock:
                    self._scanning.discard(root)
                    self._generation[root] = self._generation.get(root, 0) + 1
            if changed:
                self.send(EVENT_LIBRARY, {"root": root, "changed": True})
        self._job_pool.submit(work)

    def refresh(self) -> None:
        """Scan every root now (sync)."""
        for root in self.roots():
            self.scan_now(root)

    def find(self, lora_id: str) -> list:
        if not isinstance(lora_id, str) or not lora_id or len(lora_id) > 200:
            raise ApiError(400, "id: expected a LoRA id")
        found = [it for it in self.items() if it["id"] == lora_id]
        if not found:
            raise ApiError(404, f"no LoRA with id {lora_id!r} (the listing gives the ids)")
        return found

    def by_lora_name(self, name: str):
        """The listing item of a ComfyUI `lora_name` (relative path with OS separators)."""
        rel = name.replace(os.sep, "/")
        for it in self.items():
            if it["path"] == rel:
                return it
        return None

    def full_path(self, item: dict) -> str:
        return os.path.join(self.roots()[item["root"]], item["path"])

    @property
    def plan_cache(self):
        """engine.plan_cache.PlanCache shared by every plan of this process (keyed by file stat)."""
        if self._plan_cache is None:
            from ..engine.plan_cache import PlanCache
            self._plan_cache = PlanCache()
        return self._plan_cache

    # -- analysis ------------------------------------------------------------------------------

    def analysis(self, path: str) -> dict:
        """engine.analysis of a file, cached by (real path, size, mtime)."""
        from ..engine.analysis import analyze_file
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        hit = self._analyses.get(key)
        if hit is None:
            hit = analyze_file(path)
            if len(self._analyses) > 256:
                self._analyses.clear()
            self._analyses[key] = hit
        return hit

    # -- store-backed documents (profiles, saved plans) in the first root ----------------------

    def _primary_store(self):
        roots = self.roots()
        if not roots:
            raise ApiError(404, "no LoRA root is configured: nowhere to keep profiles and plans")
        try:
            return Store.open(roots[0])
        except LibraryError as exc:
            raise ApiError(409, str(exc)) from None

    @contextlib.contextmanager
    def _documents(self):
        """The primary store, with library.plans/profiles errors turned into ApiError."""
        from ..library.errors import InvalidDocument, NotFound
        try:
            with self._primary_store() as store:
                yield store
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        except InvalidDocument as exc:
            raise ApiError(409 if "exists" in str(exc) else 400, str(exc)) from None

    def profiles(self) -> dict:
        from ..library.profiles import list_profiles
        with self._documents() as store:
            return {p["name"]: p["multipliers"] for p in list_profiles(store)}

    def put_profile(self, name: str, multipliers: dict) -> dict:
        from ..library.profiles import save_profile
        with self._documents() as store:
            return save_profile(store, name, multipliers)

    def delete_profile(self, name: str) -> None:
        from ..library.profiles import delete_profile
        with self._documents() as store:
            delete_profile(store, name)

    def save_plan(self, name: str, plan: dict, specs: list, options: dict) -> dict:
        """Keep a computed plan with the inputs that made it (library/plans.py)."""
        from ..library.plans import make_inputs, save_plan
        ids = {}
        for it in self.items():
            ids.setdefault(os.path.realpath(self.full_path(it)), it["id"])
        ids = {path: ids.get(os.path.realpath(path)) for path, _, _ in specs}
        with self._documents() as store:
            inputs = make_inputs(specs, ids, policy=options["policy"], headroom=options["headroom"],
                                 role_order=options["role_order"], roles=options.get("roles"),
                                 profiles=options.get("profiles"))
            return {"id": save_plan(store, name, plan, inputs), "name": name}

    def plans(self) -> list:
        from ..library.plans import list_plans
        with self._documents() as store:
            return list_plans(store)

    def plan(self, plan_id) -> dict:
        from ..library.plans import load_saved
        with self._documents() as store:
            saved = load_saved(store, plan_id, self.roots()[0])
        return {"id": saved.id, "name": saved.name, "created_at": saved.created_at, "plan": saved.plan,
                "inputs": saved.inputs, "problems": saved.problems}

    def delete_plan(self, plan_id) -> None:
        from ..library.plans import delete_plan
        with self._documents() as store:
            delete_plan(store, plan_id)

    # -- jobs ----------------------------------------------------------------------------------

    def jobs(self) -> list:
        return [self._job_view(j) for j in self._jobs.values()]

    def job(self, job_id: int) -> dict:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job with id {job_id}")
        return self._job_view(job)

    @staticmethod
    def _job_view(job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def start_job(self, action: str, root_index: int, options: dict) -> dict:
        if action not in JOB_ACTIONS:
            raise ApiError(404, f"unknown action {action!r}; one of {', '.join(JOB_ACTIONS)}")
        root = self.root(root_index)
        kind = "reconcile-repair" if action == "reconcile" and options.get("repair") else action
        with self._lock:
            for other in self._jobs.values():
                if other["root"] == root and other["state"] in ("queued", "running") and \
                        (kind in WRITERS or other["_kind"] in WRITERS):
                    raise ApiError(409, f"job {other['id']} ({other['action']}) is still running on this root; "
                                   "wait for it to finish")
            job = {"id": next(self._job_ids), "action": action, "root": root, "options": options, "state": "queued",
                   "progress": None, "result": None, "error": None, "_kind": kind}
            self._jobs[job["id"]] = job
            if len(self._jobs) > 200:
                for old in [j for j in self._jobs.values() if j["state"] in ("done", "failed")][:50]:
                    self._jobs.pop(old["id"], None)
        self._job_pool.submit(self._run_job, job)
        return self._job_view(job)

    def _run_job(self, job: dict) -> None:
        root, action, options = job["root"], job["action"], job["options"]
        last = [0.0]

        def progress(phase, done, total, path):
            now = time.monotonic()
            if now - last[0] < 0.2 and total and done < total:
                return
            last[0] = now
            job["progress"] = {"phase": phase, "done": done, "total": total, "path": path}
            self.send(EVENT_JOB, self._job_view(job))

        job["state"] = "running"
        self.send(EVENT_JOB, self._job_view(job))
        try:
            if action == "scan":
                result = operations.scan_library(root, progress=progress).to_dict()
            elif action == "check":
                result = operations.check(root, allow=options.get("allow"), previews=options.get("previews", True)).to_dict()
            elif action in ("organize", "clean"):
                result = operations.organize(root, mode=action, allow=options.get("allow"),
                                             previews=options.get("previews", True), progress=progress).to_dict()
            elif action == "reconcile":
                result = operations.reconcile_library(root, repair=bool(options.get("repair")), progress=progress).to_dict()
            else:
                result = operations.undo(root).to_dict()
            job["result"], job["state"] = result, "done"
        except LibraryBusy as exc:
            job["error"], job["state"] = f"busy: {exc}", "failed"
        except LibraryError as exc:
            job["error"], job["state"] = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into the worker
            job["error"], job["state"] = f"internal error ({type(exc).__name__}: {exc})", "failed"
        finally:
            with self._lock:
                self._generation[root] = self._generation.get(root, 0) + 1
            if job["_kind"] in WRITERS or action == "scan":
                try:
                    self.on_files_changed()
                except Exception:  # noqa: BLE001 - a refresh hook must not fail the job
                    pass
            self.send(EVENT_JOB, self._job_view(job))

    def wait_job(self, job_id: int, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.job(job_id)
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.02)
        return self.job(job_id)

    def close(self) -> None:
        self._job_pool.shutdown(wait=True)
        self.executor.shutdown(wait=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
