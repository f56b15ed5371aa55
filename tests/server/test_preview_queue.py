"""The previews job inside a host that renders in-process (ComfyUI sets `state.preview_client`; here
the client-interface double of tests/helpers/preview_doubles.py), `GET /lora-atlas/previews/queue`
and the `lora-atlas.preview` events; `plan: true` and a host without a client only plan."""

from __future__ import annotations

import json
import os

from lora_atlas.server.events import EVENT_PREVIEW
from preview_doubles import CKPT, PairClient   # tests/helpers

LORAS = ["characters/hero.safetensors", "concepts/texture.safetensors", "styles/watercolor.safetensors",
         "styles/ink_xl.safetensors"]


def _config(root):
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)


async def _run(client, ctx, body) -> dict:
    r = await client.post("/lora-atlas/jobs/previews", json=body)
    assert r.status == 202, await r.text()
    job = ctx.jobs.wait((await r.json())["job"]["id"], timeout=120)
    assert job["state"] == "done", job
    return job


async def test_the_queue_route_follows_an_in_process_previews_job(client, ctx, library, events):
    _config(library)
    r = await client.get("/lora-atlas/previews/queue")
    assert r.status == 200 and (await r.json())["state"] == "idle"
    ctx.state.preview_client = lambda: PairClient(LORAS)

    job = await _run(client, ctx, {"root": 0, "ab": True})
    by_path = {r["path"]: r for r in job["result"]["results"]}
    assert by_path["characters/hero.safetensors"]["files"] == ["characters/hero.preview.png",
                                                               "characters/hero.preview.base.png"]
    assert os.path.isfile(os.path.join(library, "characters/hero.preview.base.png"))

    queue = await (await client.get("/lora-atlas/previews/queue")).json()
    assert queue["job"] == job["id"] and queue["state"] == "done" and queue["total"] == 3
    assert queue["counts"] == {"pending": 0, "running": 0, "done": 2, "failed": 1, "skipped": 1}, queue
    states = {lo["path"]: lo for lo in queue["loras"]}
    assert states["styles/ink_xl.safetensors"]["state"] == "failed"
    assert "templates.sdxl.checkpoint" in states["styles/ink_xl.safetensors"]["error"]
    assert states["styles/watercolor.safetensors"]["state"] == "skipped"
    told = [(d["path"], d["state"]) for e, d in events if e == EVENT_PREVIEW and d["id"] == job["id"]]
    assert told.index(("characters/hero.safetensors", "running")) < told.index(("characters/hero.safetensors", "done"))


async def test_plan_true_and_a_host_without_a_client_only_plan(client, ctx, library):
    _config(library)
    before = sorted(os.listdir(os.path.join(library, "characters")))
    job = await _run(client, ctx, {"root": 0})                           # `lora-atlas serve`: no in-process client
    assert job["result"]["counts"]["planned"] == 3             # the SDXL LoRA too (its template)
    ctx.state.preview_client = lambda: PairClient(LORAS)
    job = await _run(client, ctx, {"root": 0, "plan": True})
    assert job["result"]["counts"]["planned"] == 3 and job["result"]["counts"]["ok"] == 0
    assert sorted(os.listdir(os.path.join(library, "characters"))) == before


async def test_paths_render_only_the_loras_named_and_bad_paths_are_refused(client, ctx, library):
    _config(library)
    ctx.state.preview_client = lambda: PairClient(LORAS)
    job = await _run(client, ctx, {"root": 0, "paths": ["characters/hero.safetensors"]})
    assert [r["path"] for r in job["result"]["results"]] == ["characters/hero.safetensors"]
    assert job["result"]["results"][0]["status"] == "ok"
    assert os.path.isfile(os.path.join(library, "characters/hero.preview.png"))
    assert not os.path.exists(os.path.join(library, "concepts/texture.preview.png"))
    for bad in ([], "characters/hero.safetensors", [3], ["x" * 2000]):
        r = await client.post("/lora-atlas/jobs/previews", json={"root": 0, "paths": bad})
        assert r.status == 400 and "paths" in (await r.text()), bad
