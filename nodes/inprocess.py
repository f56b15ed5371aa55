"""Previews rendered by the ComfyUI this pack runs in: the ComfyClient interface
(library/previews/client.py) straight on `PromptServer.instance.prompt_queue`, no HTTP.

Why in-process rather than POST /prompt to ourselves: the queue item is ours to build, so

* it runs at LOW priority: ComfyUI's queue is a heap on `number` (lowest first) and a user's prompt
  gets the server's small running counter, so a preview queued with `LOW_PRIORITY + n` waits for
  every prompt the user queues, even one queued after it;
* its events go nowhere: ComfyUI sends execution events (progress, latent previews, `executing`)
  only to the item's `client_id`, and ours is a fresh private id no browser ever connected with,
  so the user's canvas shows nothing of it; our progress goes out as lora-atlas events instead;
* the item matches the running version: 0.3.64 takes `(number, id, prompt, extra_data, outputs)`,
  versions with the sensitive-data split (0.33.0, 2026) a sixth field `sensitive`, read by the
  worker as `item[5]` (a 5-field item crashes it). The split came with `PromptQueue.task_done`'s
  `process_item` parameter, so that signature is what we look at, never a version string.

Validation is ComfyUI's own `execution.validate_prompt`, run on the server's event loop (this
client is used from a job's worker thread). Results are read from the queue's history; images
from ComfyUI's output (or temp) folder, confined to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import json
import os
import sys
import time
import uuid

from ..library.previews.client import MAX_IMAGE, ComfyClient, ComfyError, execution_error, refusal

LOW_PRIORITY = 10 ** 12          # far above any number a user's prompt gets (the server counts from 0)
POLL_SECONDS = 0.1
LOOP_TIMEOUT = 120.0
_numbers = itertools.count()     # one sequence per process: previews keep their own order among themselves


def queue_item_fields(prompt_queue) -> int:
    """6 when the running ComfyUI keeps sensitive extra data in a sixth field (task_done takes a
    `process_item` that strips it from history), else 5."""
    try:
        params = inspect.signature(type(prompt_queue).task_done).parameters
    except (TypeError, ValueError):
        return 5
    return 6 if "process_item" in params else 5


def queue_item(fields: int, number, prompt_id: str, prompt: dict, extra_data: dict, outputs: list) -> tuple:
    item = (number, prompt_id, prompt, extra_data, outputs)
    return item + ({},) if fields == 6 else item


class InProcessComfyClient(ComfyClient):
    """The ComfyUI of this process. `server` is PromptServer.instance (or a stand-in for tests)."""

    name = "this ComfyUI"

    def __init__(self, server=None):
        if server is None:
            from .comfy_glue import prompt_server
            server = prompt_server()
        if server is None:
            raise ComfyError("unreachable", "not running inside ComfyUI: give a --server URL")
        self.server = server
        self.client_id = "lora-atlas-" + uuid.uuid4().hex      # private: no websocket ever uses it
        self.fields = queue_item_fields(server.prompt_queue)
        self._object_info = None
        self._withdrawn: set = set()       # prompt ids taken back from the queue: their `wait` ends "cancelled"

    # --- the server's event loop ----------------------------------------------------------------

    def _on_loop(self, coro):
        loop = self.server.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise ComfyError("refused", "the in-process client cannot wait on ComfyUI's own event loop")
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(LOOP_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise ComfyError("timeout", f"ComfyUI's event loop did not answer in {LOOP_TIMEOUT:g} s") from None
        except Exception as exc:  # noqa: BLE001 - ComfyUI's own failure, reported per LoRA
            raise ComfyError("refused", f"ComfyUI could not check the prompt: {type(exc).__name__}: {exc}") from None

    # --- the interface ---------------------------------------------------------------------------

    def object_info(self) -> dict:
        """ComfyUI's own GET /object_info handler, called in-process (one answer per client)."""
        if self._object_info is None:
            handler = _route_handler(self.server.routes, "GET", "/object_info")
            if handler is None:
                raise ComfyError("bad_answer", "this ComfyUI has no /object_info route")
            response = self._on_loop(handler(None))
            self._object_info = json.loads(response.body)
        return self._object_info

    def queue(self, prompt: dict) -> str:
        import execution
        prompt_id = str(uuid.uuid4())
        valid = self._on_loop(execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            raise ComfyError("refused", f"ComfyUI refused the prompt: {refusal({'error': valid[1], 'node_errors': valid[3]})}")
        extra = {"client_id": self.client_id, "preview_method": "none", "create_time": int(time.time() * 1000)}
        number = LOW_PRIORITY + next(_numbers)
        self.server.prompt_queue.put(queue_item(self.fields, number, prompt_id, prompt, extra, list(valid[2])))
        return prompt_id

    def wait(self, prompt_id: str, timeout: float, progress=None) -> dict:
        deadline = time.monotonic() + timeout
        queue = self.server.prompt_queue
        while True:
            if prompt_id in self._withdrawn:
                self._withdrawn.discard(prompt_id)
                raise ComfyError("cancelled", f"prompt {prompt_id} was taken back from this ComfyUI's queue")
            entry = queue.get_history(prompt_id=prompt_id).get(prompt_id)
            status = (entry or {}).get("status") or {}
            if entry is not None:
                if any(m and m[0] == "execution_interrupted" for m in status.get("messages") or []):
                    raise ComfyError("interrupted", "this ComfyUI interrupted the render (its Cancel button, "
                                                    "or the job's second cancel)")
                if status.get("status_str") == "error":
                    raise ComfyError("render", f"ComfyUI failed the render: {execution_error(status)}")
                return entry.get("outputs") or {}
            if time.monotonic() > deadline:
                raise ComfyError("timeout", f"ComfyUI did not finish prompt {prompt_id} in {timeout:g} s "
                                            "(still queued behind other prompts, or running)")
            if progress:
                progress(prompt_id)
            time.sleep(POLL_SECONDS)

    def load(self) -> int:
        """Prompts waiting or running on this ComfyUI, the user's included (the dispatcher's measure)."""
        return self.server.prompt_queue.get_tasks_remaining()

    def withdraw(self, prompt_ids, interrupt: bool = False) -> None:
        """Take our waiting prompts out of the queue; with `interrupt`, stop ours that is running
        (never a user's: the running item's id is checked first)."""
        ids = set(prompt_ids)
        queue = self.server.prompt_queue
        deleted = []

        def ours(item) -> bool:
            if item[1] in ids:
                deleted.append(item[1])
                return True
            return False
        while queue.delete_queue_item(ours):
            pass
        self._withdrawn.update(deleted)
        if interrupt:
            running, _ = queue.get_current_queue_volatile()
            if any(item[1] in ids for item in running):
                import nodes
                nodes.interrupt_processing()

    def image(self, ref: dict) -> bytes:
        import folder_paths
        base = folder_paths.get_directory_by_type(ref.get("type") or "output")
        if base is None:
            raise ComfyError("bad_answer", f"unknown image folder type {ref.get('type')!r}")
        base = os.path.realpath(base)
        path = os.path.realpath(os.path.join(base, ref.get("subfolder") or "", ref.get("filename") or ""))
        if os.path.commonpath([base, path]) != base or not os.path.isfile(path):
            raise ComfyError("bad_answer", f"the image {ref.get('filename')!r} is not in ComfyUI's {ref.get('type')} folder")
        if os.path.getsize(path) > MAX_IMAGE:
            raise ComfyError("bad_answer", f"the image {path} is larger than {MAX_IMAGE >> 20} MB")
        with open(path, "rb") as fh:
            return fh.read()



def _route_handler(routes, method: str, path: str):
    for route in routes:
        if getattr(route, "method", None) == method and getattr(route, "path", None) == path:
            return route.handler
    return None


def local_client():
    """A fresh in-process client when running inside ComfyUI, else None."""
    from .comfy_glue import prompt_server
    server = prompt_server()
    if server is None or "execution" not in sys.modules:
        return None
    return InProcessComfyClient(server)
