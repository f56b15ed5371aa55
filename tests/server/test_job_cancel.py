"""POST /lora-atlas/jobs/{id}/cancel: a running previews job gets the cancel request (its render stops
cleanly and the job ends `cancelled`, a second request asks to interrupt), a job that cannot stop
midway is refused with 409, an unknown id is 404 and a finished job is left as it is.

render_previews is replaced by a stand-in that renders nothing and waits for the cancel (what a
cancelled render does is tested in tests/library/test_preview_dispatch.py)."""

from __future__ import annotations

import asyncio
import threading

from lora_atlas.library import operations
from lora_atlas.library.previews import render
from lora_atlas.library.previews.selection import PreviewReport


class WaitsForCancel:
    def __init__(self):
        self.started = threading.Event()
        self.levels = []

    def __call__(self, root, clients, *, cancel, **kw):
        self.started.set()
        for _ in range(3000):
            if cancel.level >= 2:
                break
            if cancel.level and not self.levels:
                self.levels.append(cancel.level)
            threading.Event().wait(0.01)
        self.levels.append(cancel.level)
        return PreviewReport(root=root, cancelled=bool(cancel))


async def _until(predicate):
    for _ in range(600):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job did not get there")


async def test_a_running_previews_job_is_cancelled_then_interrupted(client, ctx, monkeypatch):
    stand_in = WaitsForCancel()
    monkeypatch.setattr(render, "render_previews", stand_in)
    resp = await client.post("/lora-atlas/jobs/previews", json={"servers": ["http://127.0.0.1:9"]})
    assert resp.status == 202
    jid = (await resp.json())["job"]["id"]
    await _until(stand_in.started.is_set)
    first = await client.post(f"/lora-atlas/jobs/{jid}/cancel")
    assert first.status == 200 and (await first.json())["job"]["cancel_requested"] == 1
    await _until(lambda: stand_in.levels)
    second = await client.post(f"/lora-atlas/jobs/{jid}/cancel")
    assert (await second.json())["job"]["cancel_requested"] == 2
    job = ctx.jobs.wait(jid)
    assert job["state"] == "cancelled" and job["result"]["cancelled"] is True
    assert stand_in.levels == [1, 2]
    again = await client.post(f"/lora-atlas/jobs/{jid}/cancel")          # finished: unchanged
    assert (await again.json())["job"]["state"] == "cancelled"
    resp = await client.post("/lora-atlas/jobs/check", json={})           # the root is free again
    assert resp.status == 202


async def test_a_job_that_cannot_stop_midway_is_refused_and_unknown_ids_are_404(client, ctx, monkeypatch):
    go, started = threading.Event(), threading.Event()

    def blocking(root, **kw):
        started.set()
        assert go.wait(30)
        return operations.RunResult(root=root, mode="organize")
    monkeypatch.setattr(operations, "organize", blocking)
    resp = await client.post("/lora-atlas/jobs/organize", json={})
    jid = (await resp.json())["job"]["id"]
    await _until(started.is_set)
    refused = await client.post(f"/lora-atlas/jobs/{jid}/cancel")
    assert refused.status == 409 and "cannot be stopped midway" in (await refused.json())["error"]
    go.set()
    assert ctx.jobs.wait(jid)["state"] == "done"
    assert (await client.post("/lora-atlas/jobs/999/cancel")).status == 404
