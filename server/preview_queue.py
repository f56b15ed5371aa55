"""The state of the previews job that runs (or ran last) on this server, for
`GET /lora-atlas/previews/queue` and the `lora-atlas.preview` events: how many LoRAs are pending,
running, done, failed or skipped, and each LoRA's own state.

One tracker per JobRunner (`PreviewQueue.of(runner)`); `render_tracked`, the previews action's
render, feeds it through the render's `progress` (which LoRA starts) and `on_result` (how it
ended). Plain Python, thread-safe: the render runs on a worker thread while the route reads.

Inside ComfyUI the host sets `state.preview_client` (nodes/comfy_glue.py) to a factory of the
in-process client (nodes/inprocess.py); a previews job given no server renders there.
"""

from __future__ import annotations

import threading

from ..library.previews import render
from .events import EVENT_PREVIEW

STATES = ("pending", "running", "done", "failed", "skipped")
_STATE_OF = {"ok": "done", "failed": "failed", "skipped": "skipped", "planned": "pending"}


class PreviewQueue:
    def __init__(self, send=None):
        self.send = send or (lambda event, data: None)
        self._lock = threading.Lock()
        self.job = None
        self.root = None
        self.state = "idle"
        self.total = 0
        self.loras: dict = {}

    @classmethod
    def of(cls, runner) -> "PreviewQueue":
        tracker = getattr(runner, "_preview_queue", None)
        if tracker is None:
            tracker = cls(runner.state.send)
            runner._preview_queue = tracker
        return tracker

    def begin(self, job_id: int, root: str) -> None:
        with self._lock:
            self.job, self.root, self.state, self.total, self.loras = job_id, root, "running", 0, {}

    def progress(self, inner):
        """A render `progress` that records which LoRA starts, then calls `inner`."""
        def progress(phase, done, total, path):
            if phase == "render":
                with self._lock:
                    self.total = total
                    if path is not None:
                        self.loras[path] = {"path": path, "state": "running", "error": None, "server": None}
                if path is not None:
                    self._tell(path, "running", None)
            inner(phase, done, total, path)
        return progress

    def result(self, result) -> None:
        state = _STATE_OF.get(result.status, "failed")
        error = result.reason if state == "failed" else None
        with self._lock:
            self.loras[result.path] = {"path": result.path, "state": state, "error": error, "server": result.server}
        self._tell(result.path, state, error)

    def end(self, report: dict | None, error: str | None = None) -> None:
        """The job ended: every LoRA of its report gets its final state (the skipped ones too)."""
        with self._lock:
            for r in (report or {}).get("results") or []:
                state = _STATE_OF.get(r["status"], "failed")
                self.loras[r["path"]] = {"path": r["path"], "state": state,
                                         "error": r["reason"] if state == "failed" else None, "server": r["server"]}
            for lora in self.loras.values():
                if lora["state"] == "running":            # the job failed while this LoRA rendered
                    lora.update(state="failed", error=error or "the job stopped")
            self.state = "failed" if error else "done"

    def snapshot(self) -> dict:
        with self._lock:
            loras = sorted((dict(v) for v in self.loras.values()), key=lambda v: v["path"])
            counts = {s: sum(1 for v in loras if v["state"] == s) for s in STATES}
            started = counts["running"] + counts["done"] + counts["failed"]
            if self.state == "running":
                counts["pending"] += max(0, self.total - started)
            return {"job": self.job, "root": self.root, "state": self.state, "total": self.total,
                    "counts": counts, "loras": loras}

    def _tell(self, path: str, state: str, error) -> None:
        try:
            self.send(EVENT_PREVIEW, {"id": self.job, "path": path, "state": state, "error": error})
        except Exception:  # noqa: BLE001 - an event that cannot go out must not stop the render
            pass


def local_clients(progress) -> list:
    """[the host's in-process ComfyUI client] when the job runs inside ComfyUI, else []."""
    runner = getattr(progress, "runner", None)
    factory = getattr(getattr(runner, "state", None), "preview_client", None)
    return [factory()] if factory is not None else []


def render_tracked(root: str, clients: list, progress, **options) -> dict:
    """render.render_previews with the runner's tracker told about every LoRA; the report dict."""
    runner = getattr(progress, "runner", None)
    if runner is None:
        return render.render_previews(root, clients, progress=progress, **options).to_dict()
    tracker = PreviewQueue.of(runner)
    tracker.begin(progress.job["id"], root)
    try:
        report = render.render_previews(root, clients, progress=tracker.progress(progress),
                                        on_result=tracker.result, **options).to_dict()
    except BaseException as exc:
        tracker.end(None, str(exc) or type(exc).__name__)
        raise
    tracker.end(report)
    return report
