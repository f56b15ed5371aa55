"""Requests that meet a job moving the library's files (issue 13, items 9, 10 and 11): they are
refused with 409 and a reason while it runs, never answered from stale paths ("no usable LoRA", an
unreadable detail, a config edit into a folder going away), and work again once it has finished."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from lora_atlas.library import lora_details, operations
from lora_atlas.library.lock import library_lock
from lora_atlas.library.scan import scan
from lora_atlas.library.store import Store


@pytest.fixture
def organized(ctx, library):
    operations.organize(library, previews=False)
    ctx.state.refresh()
    return library


class BlockingOrganize:
    """A stand-in for operations.organize that moves characters/hero to characters/the-hero the way
    organize does (under the library lock, the store rescanned at the end), stopping at two points
    until the test lets it go on: `locked` (lock held, nothing moved yet) and `moved`."""

    def __init__(self):
        self.locked, self.moved = threading.Event(), threading.Event()
        self.go_move, self.go_finish = threading.Event(), threading.Event()

    def __call__(self, root, **kw):
        with library_lock(root, "organize"):
            self.locked.set()
            assert self.go_move.wait(30)
            os.rename(os.path.join(root, "characters", "hero"), os.path.join(root, "characters", "the-hero"))
            self.moved.set()
            assert self.go_finish.wait(30)
            with Store.open(root) as store:
                scan(store, root)
        return operations.RunResult(root=root, mode=kw.get("mode", "organize"))


async def _until(event: threading.Event):
    for _ in range(600):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job did not get there")


async def _busy(resp) -> str:
    assert resp.status == 409, await resp.text()
    return (await resp.json())["error"]


async def test_requests_during_an_organize_job_get_409_then_work(client, ctx, organized, monkeypatch):
    fake = BlockingOrganize()
    monkeypatch.setattr(operations, "organize", fake)
    hero = (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]
    config = os.path.join(organized, "characters", "hero", "config.yaml")
    before = open(config, encoding="utf-8").read()
    job = (await (await client.post("/lora-atlas/jobs/organize", json={})).json())["job"]
    await _until(fake.locked)
    # the job holds the library, nothing has moved yet: an edit now would race it
    edit = f"/lora-atlas/loras/{hero['id']}/config"
    reason = await _busy(await client.patch(edit, json={"notes": "mine"}))
    assert f"job {job['id']} (organize)" in reason
    assert open(config, encoding="utf-8").read() == before
    fake.go_move.set()
    await _until(fake.moved)
    # the folder has moved; the listing and the store still name the old path
    plan = {"loras": [{"id": hero["id"]}, {"path": "styles/watercolor/watercolor.safetensors"}]}
    for resp in (await client.post("/lora-atlas/plan", json=plan),
                 await client.post("/lora-atlas/plan", json={"loras": [{"path": "characters/hero/hero.safetensors"}]}),
                 await client.get(f"/lora-atlas/loras/{hero['id']}"),
                 await client.patch(edit, json={"notes": "mine"}),
                 await client.post("/lora-atlas/plans", json={"name": "duo", "request": plan})):
        assert f"job {job['id']} (organize)" in await _busy(resp)
    # another root's LoRAs, and the listing, are not held up
    assert (await client.get("/lora-atlas/loras")).status == 200
    fake.go_finish.set()
    assert (await asyncio.to_thread(ctx.jobs.wait, job["id"]))["state"] == "done"
    detail = await client.get(f"/lora-atlas/loras/{hero['id']}?analysis=0")
    assert detail.status == 200 and (await detail.json())["path"] == "characters/the-hero/hero.safetensors"
    planned = await client.post("/lora-atlas/plan", json=plan)
    assert planned.status == 200, await planned.text()
    assert (await client.patch(edit, json={"notes": "mine"})).status == 200
    moved = os.path.join(organized, "characters", "the-hero", "config.yaml")
    assert "notes: mine" in open(moved, encoding="utf-8").read()


async def test_config_edit_waits_for_the_lock_or_answers_409(client, organized, monkeypatch):
    """Another process's organize (the lock held outside this server's jobs): the edit waits a
    little, then answers 409 naming the holder, and never writes meanwhile."""
    hero = (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]
    edit = f"/lora-atlas/loras/{hero['id']}/config"
    monkeypatch.setattr(lora_details, "EDIT_WAIT", 0.3)
    held, release = threading.Event(), threading.Event()

    def hold():
        with library_lock(organized, "organize"):
            held.set()
            release.wait(30)
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        await _until(held)
        reason = await _busy(await client.patch(edit, json={"notes": "mine"}))
        assert "busy" in reason and "organize" in reason
    finally:
        release.set()
        holder.join()
    # a lock released within the wait: the edit goes through
    monkeypatch.setattr(lora_details, "EDIT_WAIT", 5.0)
    held.clear()
    release.clear()
    holder = threading.Thread(target=hold)
    holder.start()
    await _until(held)
    threading.Timer(0.2, release.set).start()
    resp = await client.patch(edit, json={"notes": "mine"})
    holder.join()
    assert resp.status == 200, await resp.text()


class Blocking:
    """A stand-in for a job's library function that waits until the test lets it finish."""

    def __init__(self, result):
        self.started, self.go = threading.Event(), threading.Event()
        self.result = result

    def __call__(self, root, **kw):
        self.started.set()
        assert self.go.wait(30)
        return self.result(root)


async def test_a_writing_job_and_another_job_on_one_root_409_two_readers_run(client, ctx, monkeypatch):
    """README's route table: a writing job and another job on the same root: 409 (a reader during a
    writer sees a half-moved library; a writer during a reader would move files under it)."""
    writer = Blocking(lambda root: operations.RunResult(root=root, mode="organize"))
    reader = Blocking(lambda root: operations.RunResult(root=root, mode="check"))
    monkeypatch.setattr(operations, "organize", writer)
    monkeypatch.setattr(operations, "check", reader)
    org = await client.post("/lora-atlas/jobs/organize", json={})
    assert org.status == 202
    await _until(writer.started)
    for action, body in (("check", {}), ("scan", {}), ("reconcile", {}), ("undo", {}), ("organize", {})):
        reason = await _busy(await client.post(f"/lora-atlas/jobs/{action}", json=body))
        assert "still running" in reason and "organize" in reason
    writer.go.set()
    ctx.jobs.wait((await org.json())["job"]["id"])
    first = await client.post("/lora-atlas/jobs/check", json={})
    await _until(reader.started)
    second = await client.post("/lora-atlas/jobs/check", json={})
    assert (first.status, second.status) == (202, 202)         # readers together are fine
    reason = await _busy(await client.post("/lora-atlas/jobs/organize", json={}))
    assert "still running" in reason and "check" in reason
    reader.go.set()
    for resp in (first, second):
        assert ctx.jobs.wait((await resp.json())["job"]["id"])["state"] == "done"


def test_readme_states_the_job_rule_the_runner_applies():
    """The README's jobs row names the writing jobs ACTIONS declares and the rule JobRunner applies."""
    import re
    from lora_atlas.server.jobs import ACTIONS
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")
    row = next(line for line in open(readme, encoding="utf-8") if line.startswith("| `POST /lora-atlas/jobs/"))
    named = re.search(r"a writing job \(([^)]*)\) and another job, reader or writer, on the same root: 409", row)
    assert named and "two readers are fine" in row, row
    writers = {name for name, action in ACTIONS.items() if action.writes_with({})}
    writers |= {f"{name} with repair" for name, action in ACTIONS.items()
                if not action.writes_with({}) and action.writes_with({"repair": True})}
    assert set(named.group(1).split(", ")) == writers
