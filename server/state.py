"""The server's state, shared by the routes and the nodes: the LoRA roots, a listing cache per
root, background rescans, lookups by id and by ComfyUI name, the primary store (profiles, plans,
templates) and the planner's in-memory cache. Plain Python (no aiohttp, no ComfyUI); handlers call
it on its thread pool, nodes call it directly. Jobs are beside it (server/jobs.py), not in it.

    state = LibraryState(lambda: ["/models/loras"], send=lambda event, data: ...)
    state.items()                    # every LoRA of every root (cached; refreshed on change)

Freshness: a root's listing is rebuilt when its store file changes or our own write finished
(`bump`); a root is rescanned in the background when its listing is older than
`rescan_interval` seconds, so files dropped in by hand show up without a restart and nothing
blocks ComfyUI's start.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..engine.analysis import analyze_file
from ..engine.plan_cache import PlanCache
from ..library import operations
from ..library.errors import InvalidDocument, LibraryBusy, LibraryError, NotFound, OutsideRoots
from ..library.lora_details import lora_analysis
from ..library.planning import plan_request
from ..library.queries import Index, index_items
from ..library.roots import check_root_index, confine
from ..library.scan import load_rows
from ..library.store import DB_NAME, STATE_DIR, Store
from .events import EVENT_LIBRARY


class LibraryState:
    def __init__(self, roots, *, send=None, on_files_changed=None, rescan_interval: float = 30.0,
                 auto_scan: bool = True, workers: int = 4, roots_source: str = "configured"):
        self._roots_fn = roots if callable(roots) else (lambda r=list(roots): r)
        self.send = send or (lambda event, data: None)
        self.on_files_changed = on_files_changed or (lambda: None)
        self.rescan_interval = rescan_interval
        self.auto_scan = auto_scan
        self.roots_source = roots_source
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lora-atlas")
        self.background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lora-atlas-job")
        self._lock = threading.RLock()
        self._cache: dict = {}          # root -> (signature, built_at, items)
        self._generation: dict = {}     # root -> int, bumped after our own writes
        self._scanning: set = set()
        self._gate = threading.Condition()   # writing jobs against requests resolving LoRA paths
        self._writers: dict = {}         # root -> the job moving its files
        self._readers: dict = {}         # root -> requests reading its files now
        self._combined = (None, None)
        self.plan_cache = PlanCache()   # figures of this process's plans, on top of the store's

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
        check_root_index(roots, index)
        return roots[index]

    def bump(self, root: str) -> None:
        """Our own write changed `root`: its listing is rebuilt on the next read."""
        with self._lock:
            self._generation[root] = self._generation.get(root, 0) + 1

    # -- writing jobs and the requests that read a root's files --------------------------------

    @contextlib.contextmanager
    def writing(self, root: str, what: str):
        """Held by a job that moves `root`'s files (organize, clean, undo, repair). Meanwhile the
        listing and the store name paths the job is changing, so a request resolving a LoRA of
        `root` is refused (`reading`: LibraryBusy, 409) rather than answered from a stale path
        ("no usable LoRA", an unreadable detail, an edit in a folder going away). The job starts
        once the requests already reading have finished; the listing is rebuilt before release."""
        with self._gate:
            self._writers[root] = what
            while self._readers.get(root):
                self._gate.wait()
        try:
            yield
        finally:
            self.bump(root)
            with self._gate:
                self._writers.pop(root, None)
                self._gate.notify_all()

    @contextlib.contextmanager
    def reading(self, root: str):
        """Hold `root` against writing jobs while a request reads its files; LibraryBusy if one runs."""
        with self._gate:
            what = self._writers.get(root)
            if what is not None:
                raise LibraryBusy(f"{what} is moving files in '{root}': its LoRAs are found again when it "
                                  "has finished; try again then")
            self._readers[root] = self._readers.get(root, 0) + 1
        try:
            yield
        finally:
            with self._gate:
                self._readers[root] -= 1
                if not self._readers[root]:
                    del self._readers[root]
                    self._gate.notify_all()

    @contextlib.contextmanager
    def reading_lora(self, lora_id):
        """(item, real path) of `lora_id` (see find_readable), its root held by `reading` meanwhile.
        Found again once held: a job that ended in between has moved it."""
        item = self.find(lora_id)[0]
        with self.reading(self.roots()[item["root"]]):
            yield self.find_readable(lora_id)

    # -- listing -------------------------------------------------------------------------------

    def _signature(self, root: str):
        sig = [self._generation.get(root, 0)]
        for name in (DB_NAME, DB_NAME + "-wal"):
            try:
                st = os.stat(os.path.join(root, STATE_DIR, name))
                # an empty WAL is no change: readers (this listing too) create and remove one
                sig.append((st.st_mtime_ns, st.st_size) if st.st_size or name == DB_NAME else None)
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

    def index(self) -> Index:
        """library.queries.Index over items(); rebuilt only when a root changed."""
        parts = [self.root_items(r, i) for i, r in enumerate(self.roots())]
        key = tuple(id(p) for p in parts)
        combined = self._combined
        if combined[0] != key:
            combined = self._combined = (key, Index([it for p in parts for it in p]))
        return combined[1]

    # -- scans ---------------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        return bool(self._scanning)

    def _scan(self, root: str, **kw):
        """Scan `root` into its store, marked as scanning meanwhile; the report."""
        try:
            return operations.scan_library(root, **kw)
        finally:
            with self._lock:
                self._scanning.discard(root)
            self.bump(root)

    def scan_now(self, root: str) -> dict:
        """Scan `root` into its store (sync) and return the report."""
        with self._lock:
            self._scanning.add(root)
        return self._scan(root).to_dict()

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
                report = self._scan(root)
            except LibraryError:
                return
            if report.new or report.changed or report.moved or report.vanished:
                self.send(EVENT_LIBRARY, {"root": root, "changed": True})
        self.background.submit(work)

    def refresh(self) -> None:
        """Scan every root now (sync)."""
        for root in self.roots():
            self.scan_now(root)

    # -- lookups -------------------------------------------------------------------------------

    def find(self, lora_id) -> list:
        """Every listing item with this stable id (duplicates share one); NotFound if none."""
        if not isinstance(lora_id, str) or not lora_id or len(lora_id) > 200:
            raise InvalidDocument(["id: expected a LoRA id"])
        found = [it for it in self.items() if it["id"] == lora_id]
        if not found:
            raise NotFound(f"no LoRA with id {lora_id!r} (the listing gives the ids)")
        return found

    def find_readable(self, lora_id) -> tuple[dict, str]:
        """(listing item, real path) of the first copy of `lora_id` whose file is there and stays
        inside its root: the routes never read a LoRA file through a link leading outside
        (OutsideRoots); a copy gone since the last scan is NotFound."""
        roots = self.roots()
        refused = None
        for item in self.find(lora_id):
            try:
                return item, confine(roots, item["path"], item["root"])[2]
            except (OutsideRoots, NotFound) as exc:
                refused = exc
        raise refused

    def by_lora_name(self, name: str):
        """The listing item of a ComfyUI `lora_name` (relative path with OS separators)."""
        rel = name.replace(os.sep, "/")
        for it in self.items():
            if it["path"] == rel:
                return it
        return None

    def full_path(self, item: dict) -> str:
        return os.path.join(self.roots()[item["root"]], item["path"])

    def analysis(self, lora_name: str, path: str) -> dict:
        """engine.analysis of the LoRA ComfyUI calls `lora_name` (at `path`): from the store's cache
        when the listing has it at that path (library/analysis_cache.py), else measured now."""
        item = self.by_lora_name(lora_name)
        if item is not None and os.path.realpath(self.full_path(item)) == os.path.realpath(path):
            return lora_analysis(self.roots()[item["root"]], item)
        return analyze_file(path)

    # -- the primary store: profiles, saved plans, templates, history, plans -------------------

    def primary_root(self) -> str:
        roots = self.roots()
        if not roots:
            raise NotFound("no LoRA root is configured: nowhere to keep profiles and plans")
        return roots[0]

    @contextlib.contextmanager
    def documents(self):
        """The primary root's store (created on first use), for profiles, plans and templates."""
        with Store.open(self.primary_root()) as store:
            yield store

    def plan(self, request, save_as: str | None = None):
        """library.planning.plan_request in the primary root's library (warm, kept in the history).
        Its store is opened without the writer lock (only store rows are written), so planning never
        makes an organize job busy."""
        root = self.primary_root()
        with Store.open(root) as store:
            return plan_request(request, store, root, save_as=save_as, cache=self.plan_cache)

    def close(self) -> None:
        self.background.shutdown(wait=True)
        self.executor.shutdown(wait=True)
