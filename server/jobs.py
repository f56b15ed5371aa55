"""Background library jobs: a runner beside the server state, and the registry of actions.

    runner = JobRunner(state)
    runner.start("organize", root_index=0, body={"allow": "sd1,sdxl"})     # 202 view; progress as events

An action is one entry of ACTIONS: its library function, whether it writes the library (two
writing jobs, or a writer and a reader, never run on one root at once: a reader beside a writer
would report a half-moved library, so it gets 409 like a second writer), and the options it takes
with their checks. A writing job holds `state.writing(root)`, which refuses requests that read that
root's LoRAs meanwhile. Adding an action (previews) is one entry here.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from ..library import operations
from ..library.previews import render
from ..library.previews.dispatch import Cancel
from ..library.previews.live import LiveComfyClient
from ..library.errors import InvalidDocument, LibraryBusy, LibraryError, NotFound
from .events import EVENT_JOB
from .preview_queue import local_clients, render_tracked

MAX_JOBS_KEPT = 200
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class JobAction:
    run: object                        # (root, options, progress) -> report dict
    writes: object = False             # bool, or (options) -> bool
    options: dict = field(default_factory=dict)   # name -> check(name, value) -> problem or None
    cancellable: bool = False          # run takes `cancel=` (a dispatch.Cancel) and stops cleanly on it

    def writes_with(self, options: dict) -> bool:
        return self.writes(options) if callable(self.writes) else bool(self.writes)


def _flag(name, value):
    return None if isinstance(value, bool) else f"{name}: expected true or false"


def _allow(name, value):
    if not isinstance(value, (str, list)) or (isinstance(value, list) and not all(isinstance(a, str) for a in value)):
        return f"{name}: expected \"sd1,sdxl\" or a list of architecture names"
    try:
        operations.parse_allow(value)
    except LibraryError as exc:
        return str(exc)
    return None


def _servers(name, value):
    if not isinstance(value, list) or not 1 <= len(value) <= 16 or not all(
            isinstance(u, str) and u.startswith(("http://", "https://")) and len(u) <= 2048 for u in value):
        return f"{name}: expected a list of 1 to 16 ComfyUI URLs (\"http://host:port\")"
    return None


def _paths(name, value):
    if not isinstance(value, list) or not 1 <= len(value) <= 1000 or not all(
            isinstance(p, str) and 0 < len(p) <= 1024 for p in value):
        return f"{name}: expected a list of 1 to 1,000 LoRA paths (relative to the root)"
    return None


def _previews(root, o, progress, cancel=None):
    """On the given servers; without one, on the ComfyUI this server runs in (preview_queue.py),
    else (or with `plan: true`) only the plan."""
    select = "all" if o.get("all") else "missing"
    paths = o.get("paths")              # only these LoRAs (rendered even when they have a preview of ours)
    clients = [LiveComfyClient(url) for url in o["servers"]] if o.get("servers") else local_clients(progress)
    if o.get("plan") or not clients:
        return render.plan_previews(root, select=select, paths=paths).to_dict()
    return render_tracked(root, clients, progress, select=select, paths=paths, ab=bool(o.get("ab")), cancel=cancel)


ACTIONS = {
    "scan": JobAction(lambda root, o, progress: operations.scan_library(root, progress=progress).to_dict()),
    "check": JobAction(lambda root, o, progress: operations.check(root, allow=o.get("allow"),
                                                                    previews=o.get("previews", True)).to_dict(),
                       options={"allow": _allow, "previews": _flag}),
    "organize": JobAction(lambda root, o, progress: operations.organize(
        root, mode="organize", allow=o.get("allow"), previews=o.get("previews", True), progress=progress).to_dict(),
        writes=True, options={"allow": _allow, "previews": _flag}),
    "clean": JobAction(lambda root, o, progress: operations.organize(
        root, mode="clean", allow=o.get("allow"), previews=o.get("previews", True), progress=progress).to_dict(),
        writes=True, options={"allow": _allow, "previews": _flag}),
    "reconcile": JobAction(lambda root, o, progress: operations.reconcile_library(
        root, repair=bool(o.get("repair")), progress=progress).to_dict(),
        writes=lambda o: bool(o.get("repair")), options={"repair": _flag}),
    "undo": JobAction(lambda root, o, progress: operations.undo(root).to_dict(), writes=True),
    "previews": JobAction(_previews, writes=True, options={"servers": _servers, "all": _flag, "ab": _flag,
                                                          "plan": _flag, "paths": _paths}, cancellable=True),
}


def job_options(action: str, body) -> dict:
    """The options of a job request `{"root", ...}` for `action`; every problem at once."""
    if action not in ACTIONS:
        raise NotFound(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not isinstance(body, dict):
        raise InvalidDocument(["expected a JSON object {\"root\": 0, ...}"])
    root = body.get("root", 0)
    if isinstance(root, bool) or not isinstance(root, int):
        raise InvalidDocument(["root: expected the index of a LoRA root (see /lora-atlas/settings)"])
    checks = ACTIONS[action].options
    options = {name: value for name, value in body.items() if name in checks}
    problems = [why for name, value in options.items() for why in [checks[name](name, value)] if why]
    unknown = sorted(set(body) - set(checks) - {"root"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)} (options of {action}: {', '.join(checks) or 'none'})")
    if problems:
        raise InvalidDocument(problems)
    return options


class JobRunner:
    """Runs ACTIONS in the state's background pool; the view of each job is public (no `_` keys)."""

    def __init__(self, state):
        self.state = state
        self._lock = threading.RLock()
        self._jobs: dict = {}
        self._ids = itertools.count(1)

    def jobs(self) -> list:
        return [_view(j) for j in self._jobs.values()]

    def job(self, job_id: int) -> dict:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id}")
        return _view(job)

    def start(self, action: str, root_index, body) -> dict:
        options = job_options(action, body)
        root = self.state.root(root_index)
        writes = ACTIONS[action].writes_with(options)
        with self._lock:
            for other in self._jobs.values():
                if other["root"] == root and other["state"] in ("queued", "running") and (writes or other["_writes"]):
                    raise LibraryBusy(f"job {other['id']} ({other['action']}) is still running on this root; "
                                      "wait for it to finish (a job beside a writing job would see, or "
                                      "move, a half-moved library)")
            job = {"id": next(self._ids), "action": action, "root": root, "options": options, "state": "queued",
                   "progress": None, "result": None, "error": None, "_writes": writes, "_cancel": Cancel()}
            self._jobs[job["id"]] = job
            if len(self._jobs) > MAX_JOBS_KEPT:
                for old in [j for j in self._jobs.values() if j["state"] in FINISHED][:50]:
                    self._jobs.pop(old["id"], None)
        self.state.background.submit(self._run, job)
        return _view(job)

    def cancel(self, job_id: int) -> dict:
        """Stop a job: a queued one never starts; a running previews job starts no new preview and
        takes its waiting prompts back from the servers (a second cancel interrupts those rendering).
        Cancelling a finished job changes nothing; an action that cannot stop midway is refused (409)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job with id {job_id}")
            if job["state"] in FINISHED:
                return _view(job)
            if job["state"] == "queued":
                job["_cancel"].request()
                job["state"] = "cancelled"
            elif not ACTIONS[job["action"]].cancellable:
                raise LibraryBusy(f"job {job_id} ({job['action']}) cannot be stopped midway; it finishes on its own "
                                  "(only previews jobs can be cancelled while running)")
            else:
                job["_cancel"].request()
                job["cancel_requested"] = job["_cancel"].level
        self.state.send(EVENT_JOB, _view(job))
        return _view(job)

    def _run(self, job: dict) -> None:
        send, last = self.state.send, [0.0]

        def progress(phase, done, total, path):
            now = time.monotonic()
            if now - last[0] < 0.2 and total and done < total:
                return
            last[0] = now
            job["progress"] = {"phase": phase, "done": done, "total": total, "path": path}
            send(EVENT_JOB, _view(job))
        progress.runner, progress.job = self, job         # for actions that report more than progress

        action = ACTIONS[job["action"]]
        extra = {"cancel": job["_cancel"]} if action.cancellable else {}
        if job["state"] == "cancelled":              # cancelled while queued: never started
            send(EVENT_JOB, _view(job))
            return
        job["state"] = "running"
        send(EVENT_JOB, _view(job))
        try:
            if job["_writes"]:
                with self.state.writing(job["root"], f"job {job['id']} ({job['action']})"):
                    job["result"] = action.run(job["root"], job["options"], progress, **extra)
            else:
                job["result"] = action.run(job["root"], job["options"], progress, **extra)
            job["state"] = "cancelled" if job["_cancel"] else "done"
        except LibraryBusy as exc:
            job["error"], job["state"] = f"busy: {exc}", "failed"
        except LibraryError as exc:
            job["error"], job["state"] = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into the worker
            job["error"], job["state"] = f"internal error ({type(exc).__name__}: {exc})", "failed"
        finally:
            self.state.bump(job["root"])
            if job["_writes"] or job["action"] == "scan":
                try:
                    self.state.on_files_changed()
                except Exception:  # noqa: BLE001 - a refresh hook must not fail the job
                    pass
            send(EVENT_JOB, _view(job))

    def wait(self, job_id: int, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.job(job_id)
            if job["state"] in FINISHED:
                return job
            time.sleep(0.02)
        return self.job(job_id)


def _view(job: dict) -> dict:
    return {k: v for k, v in job.items() if not k.startswith("_")}
