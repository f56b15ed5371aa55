"""Share a run's LoRAs among several ComfyUI servers: the least busy first, a LoRA that fails on one
server retried on another, every failure kept per LoRA with its reason, and a run that can be
cancelled without losing or duplicating work.

    servers = [Server(client) for client in clients]
    for outcome in dispatch(targets, servers, render_one, cancel=cancel):
        ...   # Outcome(target, server, value) or Outcome(target, server, error=...), in completion order

`render_one(target, server, job)` renders one LoRA on one server in a worker thread and sets
`job.prompt_id` once queued (so a cancel can take it back). The caller consumes outcomes in its own
thread (render.py writes each preview as it arrives: what is done stays done after an interrupt).

Least busy: each server takes at most `per_server` of our prompts at once (2: the next one waits
on the server while the last image is fetched); among servers with room, the one whose queue
(everyone's prompts, from its websocket `status` or GET /prompt) is shortest gets the next LoRA.
A server that disappears (unreachable: connection refused or reset) takes no more work; its LoRAs
go to the others. Any other failure (LoRA or model not on that server, refused, render error,
timeout) sends the LoRA to a server that has not tried it yet; it fails only once every live server
did, with each server's reason.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass, field

from ..errors import InvalidDocument
from .client import ComfyError

PER_SERVER = 2
OPEN_WAIT = 5.0                # seconds a server's websocket gets to connect before its first prompt
CANCELLED = "not rendered: the run was cancelled (a re-run renders it)"


class Cancel:
    """A run's cancel request: level 1 stops after the LoRAs being rendered (our prompts still waiting
    in a server's queue are deleted), level 2 also interrupts those running."""

    def __init__(self):
        self.level = 0
        self._event = threading.Event()

    def request(self, interrupt: bool = False) -> int:
        self.level = max(self.level + 1, 2 if interrupt else 1)
        self._event.set()
        return self.level

    def __bool__(self) -> bool:
        return self.level > 0


class Server:
    """One ComfyUI of the run: its client, its model lists, and our prompts on it now."""

    def __init__(self, client):
        self.client = client
        self.name = getattr(client, "name", "comfyui")
        self.lists = None
        self.info = None
        self.error = None
        self.jobs: list = []
        self._atlas = None

    def connect(self) -> bool:
        try:
            if hasattr(self.client, "open"):
                self.client.open(wait=OPEN_WAIT)
            self.lists = self.client.model_lists()
            self.info = self.client.object_info()
        except ComfyError as exc:
            self.error = str(exc)
        return self.error is None

    def atlas_paths(self) -> dict:
        """{stable id: [paths]} from the server's own LoRA Atlas, asked once, when a name does not match."""
        if self._atlas is None:
            try:
                self._atlas = self.client.atlas_paths() if hasattr(self.client, "atlas_paths") else {}
            except ComfyError:
                self._atlas = {}
        return self._atlas

    @property
    def live(self) -> bool:
        return self.error is None

    def load(self) -> int:
        try:
            return self.client.load() if hasattr(self.client, "load") else len(self.jobs)
        except ComfyError as exc:
            self.error = str(exc)
            return 1 << 30

    def close(self) -> None:
        if hasattr(self.client, "close"):
            self.client.close()


@dataclass
class Job:
    target: object
    server: Server
    prompt_id: str | None = None


@dataclass
class Outcome:
    target: object
    server: Server | None
    value: object = None
    error: str | None = None          # why it failed (every server's reason), None when it rendered
    cancelled: bool = False
    tried: list = field(default_factory=list)


def dispatch(targets, servers: list, render_one, *, cancel: Cancel | None = None, per_server: int = PER_SERVER):
    """Yield one Outcome per target (see the module docstring)."""
    cancel = cancel if cancel is not None else Cancel()
    pending = deque(targets)
    reasons: dict = {}                # id(target) -> [(server name, reason)]
    done: queue.Queue = queue.Queue()
    active: list = []
    withdrawn_at = 0
    while pending or active:
        try:
            if cancel and withdrawn_at < cancel.level:
                withdrawn_at = cancel.level
                _withdraw(servers, interrupt=cancel.level >= 2)
            while pending and cancel:
                t = pending.popleft()
                yield Outcome(t, None, error=CANCELLED, cancelled=True)
            while pending:
                t = pending[0]
                tried = {name for name, _ in reasons.get(id(t), [])}
                candidates = [s for s in servers if s.live and s.name not in tried]
                if not candidates:
                    pending.popleft()
                    yield _failed(t, servers, reasons.get(id(t), []))
                    continue
                free = [s for s in candidates if len(s.jobs) < per_server]
                if not free:
                    break
                server = min(free, key=lambda s: (s.load() + len(s.jobs) if s.live else 1 << 30, len(s.jobs)))
                if not server.live:
                    continue
                pending.popleft()
                job = Job(t, server)
                server.jobs.append(job)
                active.append(job)
                threading.Thread(target=_work, args=(job, render_one, done), daemon=True,
                                 name=f"preview {server.name}").start()
            if not active:
                continue
            item = _next(done, lambda: cancel.level > withdrawn_at)
            if item is None:
                continue                       # a cancel came: withdraw the prompts waiting on the servers
            job, value, error = item
        except KeyboardInterrupt:          # no handler installed (a library caller): stop now, cleanly
            cancel.request(interrupt=True)
            continue
        active.remove(job)
        job.server.jobs.remove(job)
        t, server = job.target, job.server
        if error is None:
            yield Outcome(t, server, value=value, tried=[n for n, _ in reasons.get(id(t), [])] + [server.name])
        elif isinstance(error, ComfyError) and error.kind in ("cancelled", "interrupted") and cancel:
            yield Outcome(t, server, error=f"{CANCELLED} ({error})", cancelled=True)
        elif isinstance(error, ComfyError):
            if error.kind == "unreachable":
                server.error = str(error)      # gone: no more work for it, its LoRAs go to the others
            if error.kind == "timeout" and job.prompt_id:
                _quietly(server.client, [job.prompt_id], interrupt=True)   # or it renders twice
            reasons.setdefault(id(t), []).append((server.name, str(error)))
            pending.appendleft(t)
        else:
            yield Outcome(t, server, error=str(error))


def _next(done: queue.Queue, cancelled):
    """The next finished job, or None as soon as `cancelled()`; a short timeout keeps Ctrl-C
    deliverable to this thread."""
    while not cancelled():
        try:
            return done.get(timeout=0.1)
        except queue.Empty:
            continue
    return None


def _work(job: Job, render_one, done: queue.Queue) -> None:
    try:
        done.put((job, render_one(job.target, job.server, job), None))
    except (ComfyError, InvalidDocument) as exc:
        done.put((job, None, exc if isinstance(exc, ComfyError) else f"the graph could not be built: {exc}"))
    except Exception as exc:  # noqa: BLE001 - one LoRA's surprise must not stop the run
        done.put((job, None, f"internal error ({type(exc).__name__}: {exc})"))


def _failed(t, servers: list, reasons: list) -> Outcome:
    if reasons:
        why = "; ".join(reason for _, reason in reasons)
    else:
        why = "no ComfyUI server answered: " + "; ".join(s.error or f"{s.name} is gone" for s in servers)
    return Outcome(t, None, error=why, tried=[n for n, _ in reasons])


def _withdraw(servers: list, interrupt: bool) -> None:
    for s in servers:
        ids = [j.prompt_id for j in s.jobs if j.prompt_id]
        if ids and s.live:
            _quietly(s.client, ids, interrupt)


def _quietly(client, ids: list, interrupt: bool = False) -> None:
    """Withdraw our prompts; a server that cannot be reached has nothing to withdraw."""
    if hasattr(client, "withdraw"):
        try:
            client.withdraw(ids, interrupt=interrupt)
        except ComfyError:
            pass
