"""A remote ComfyUI followed over its websocket: the end of a render is known the moment the server
says so (no /history polling delay), its queue depth is known for "least busy first", and our
prompts can be withdrawn from its queue when a run is cancelled.

    client = LiveComfyClient("http://host:8188")
    client.open()                         # the websocket reader thread (reconnects by itself)
    pid = client.queue(prompt)
    outputs = client.wait(pid, timeout=600, progress=lambda pid, value, maximum: ...)
    client.load()                         # prompts waiting or running there (everyone's)
    client.withdraw([pid], interrupt=False)
    client.close()

Events (spec/previews-panel.md §2.1) go only to our client_id: `execution_start`, `progress`,
`executing {node: null}` (the prompt ended: ComfyUI stored its history just before), and the
broadcast `status` with `queue_remaining`. When the websocket is down, `wait` falls back to polling
/history, so a server that went away is noticed by its HTTP failing ("unreachable"), and one that
came back is followed again.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

from .client import ComfyError, HttpComfyClient
from .websocket import WebSocket

POLL_DISCONNECTED = 0.5       # seconds between /history polls while the websocket is down
CHECK_CONNECTED = 5.0         # a /history poll even with the websocket up: a lost event costs at most this
RECONNECT_SECONDS = 1.0
ATLAS_MAX = 200_000           # LoRAs read from a server's own LoRA Atlas (name matching by id)


class LiveComfyClient(HttpComfyClient):
    def __init__(self, base_url: str, **kw):
        super().__init__(base_url, **kw)
        self._cond = threading.Condition()
        self._ended: set = set()              # prompt ids the server said ended
        self._withdrawn: set = set()          # prompt ids taken back from its queue: never running
        self._steps: dict = {}                # prompt id -> (value, max)
        self.running = None                   # our prompt executing there now
        self.queue_remaining = None           # from the last `status` event
        self.connected = False
        self._ws = None
        self._thread = None
        self._closed = False

    # --- the websocket ------------------------------------------------------------------------

    def open(self, wait: float = 0.0) -> None:
        """Start following the websocket; with `wait`, up to that many seconds until it is connected
        (events of a prompt queued before it connects are only seen by polling)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._read_events, name=f"comfy-ws {self.base_url}", daemon=True)
            self._thread.start()
        if wait:
            with self._cond:
                self._cond.wait_for(lambda: self.connected, timeout=wait)

    def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            ws.close()

    def _ws_url(self) -> str:
        parts = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws?clientId={self.client_id}"

    def _read_events(self) -> None:
        while not self._closed:
            try:
                self._ws = WebSocket.connect(self._ws_url(), timeout=self.request_timeout)
                self._ws.settimeout(None)
                self._set_connected(True)
                while not self._closed:
                    text = self._ws.receive()
                    if text is None:
                        break
                    self._on_message(text)
            except (OSError, ValueError):
                pass
            finally:
                if self._ws is not None:
                    self._ws.close()
                self._ws = None
                self._set_connected(False)
            if not self._closed:
                time.sleep(RECONNECT_SECONDS)

    def _set_connected(self, up: bool) -> None:
        with self._cond:
            self.connected = up
            if not up:
                self.running = None
            self._cond.notify_all()

    def _on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), dict):
            return
        kind, data = msg.get("type"), msg["data"]
        pid = data.get("prompt_id")
        with self._cond:
            if kind == "status":
                remaining = ((data.get("status") or {}).get("exec_info") or {}).get("queue_remaining")
                if isinstance(remaining, int):
                    self.queue_remaining = remaining
            elif kind == "execution_start" and pid:
                self.running = pid
            elif kind == "progress" and pid:
                self._steps[pid] = (data.get("value"), data.get("max"))
            elif kind == "executing" and pid and data.get("node") is None:
                self._ended.add(pid)
                if self.running == pid:
                    self.running = None
            else:
                return
            self._cond.notify_all()

    # --- the interface ------------------------------------------------------------------------

    def queue(self, prompt: dict) -> str:
        self.open()
        return super().queue(prompt)

    def wait(self, prompt_id: str, timeout: float, progress=None) -> dict:
        """The prompt's outputs once the server says it ended (see the module docstring)."""
        deadline = time.monotonic() + timeout
        last_check, shown = time.monotonic(), None
        while True:
            with self._cond:
                if prompt_id in self._withdrawn:
                    self._withdrawn.discard(prompt_id)
                    raise ComfyError("cancelled", f"prompt {prompt_id} was taken back from {self.base_url}'s queue")
                ended = prompt_id in self._ended
                if not ended:
                    self._cond.wait(min(max(deadline - time.monotonic(), 0.01),
                                        CHECK_CONNECTED if self.connected else POLL_DISCONNECTED))
                    ended = prompt_id in self._ended
                steps, connected = self._steps.get(prompt_id), self.connected
            if progress and steps and steps != shown:
                shown = steps
                progress(prompt_id, *steps)
            now = time.monotonic()
            if ended or not connected or now - last_check >= CHECK_CONNECTED:
                last_check = now
                outputs = self.finished(prompt_id)
                if outputs is not None:
                    self._forget(prompt_id)
                    return outputs
            if time.monotonic() > deadline:
                self._forget(prompt_id)
                raise ComfyError("timeout", f"ComfyUI at {self.base_url} did not finish prompt {prompt_id} in "
                                            f"{timeout:g} s (still queued or running there)")

    def _forget(self, prompt_id: str) -> None:
        with self._cond:
            self._ended.discard(prompt_id)
            self._steps.pop(prompt_id, None)

    def load(self) -> int:
        """How many prompts wait or run there (everyone's): the websocket's last `status`, else GET /prompt."""
        if self.connected and self.queue_remaining is not None:
            return self.queue_remaining
        _, answer = self._json("/prompt")
        remaining = ((answer or {}).get("exec_info") or {}).get("queue_remaining") if isinstance(answer, dict) else None
        return remaining if isinstance(remaining, int) else 0

    def atlas_paths(self, limit: int = ATLAS_MAX) -> dict:
        """{stable id: [paths]} of the LoRAs the server's own LoRA Atlas lists (GET /lora-atlas/loras),
        {} when it has none: how a LoRA is found there when its name differs (same bytes, same id)."""
        out, offset = {}, 0
        while offset < limit:
            status, body = self._request(f"/lora-atlas/loras?limit=500&offset={offset}&sort=path")
            try:
                page = json.loads(body) if status == 200 else None
            except ValueError:
                page = None
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                break
            for it in items:
                if isinstance(it, dict) and isinstance(it.get("id"), str) and isinstance(it.get("path"), str):
                    out.setdefault(it["id"], []).append(it["path"])
            offset += len(items)
            if offset >= (page.get("total") or 0):
                break
        return out

    def withdraw(self, prompt_ids: list, interrupt: bool = False) -> list:
        """Take our prompts back: those still waiting are deleted from the queue (their `wait` raises
        "cancelled"); a running one finishes, or is interrupted with `interrupt`. The ids deleted."""
        if not prompt_ids:
            return []
        self._post("/queue", {"delete": list(prompt_ids)})
        _, queue = self._json("/queue")
        running = {item[1] for item in (queue or {}).get("queue_running") or [] if len(item) > 1}
        pending = {item[1] for item in (queue or {}).get("queue_pending") or [] if len(item) > 1}
        deleted = []
        for pid in prompt_ids:
            if pid in running:
                if interrupt:            # 0.3.x ignores the body and interrupts what runs: it is ours
                    self._post("/interrupt", {"prompt_id": pid})
            elif pid not in pending and self.finished_or_none(pid) is None:
                deleted.append(pid)
        with self._cond:
            self._withdrawn.update(deleted)
            self._cond.notify_all()
        return deleted

    def _post(self, path: str, doc: dict) -> None:
        """A POST whose answer is an empty 200 (ComfyUI's /queue and /interrupt)."""
        status, body = self._request(path, doc)
        if status != 200:
            raise ComfyError("bad_answer", f"ComfyUI at {self.base_url} answered {status} to {path}: "
                                           f"{body[:300].decode('utf-8', 'replace')}")

    def finished_or_none(self, prompt_id: str):
        try:
            return self.finished(prompt_id)
        except ComfyError:
            return {}
