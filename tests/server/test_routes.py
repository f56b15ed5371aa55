"""Every /lora-atlas/ route against a real aiohttp server on loopback, good and bad input."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from lora_atlas.server.events import EVENT_JOB

pytestmark = pytest.mark.asyncio


async def _json(resp, status=200):
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def _error(resp, status):
    doc = await _json(resp, status)
    assert set(doc) == {"error"} and isinstance(doc["error"], str) and "Traceback" not in doc["error"]
    return doc["error"]


async def test_listing_pagination_search_filters_sort(client):
    doc = await _json(await client.get("/lora-atlas/loras"))
    assert doc["total"] == 5
    paths = [it["path"] for it in doc["items"]]
    assert paths == sorted(paths)
    for it in doc["items"]:
        assert {"id", "name", "path", "architecture", "adapter", "role", "has_preview"} <= set(it)
    page = await _json(await client.get("/lora-atlas/loras?offset=1&limit=2"))
    assert page["total"] == 5 and [it["path"] for it in page["items"]] == paths[1:3]
    sd1 = await _json(await client.get("/lora-atlas/loras?architecture=sd1"))
    assert sd1["total"] == 3 and all(it["architecture"] == "sd1" for it in sd1["items"])
    styles = await _json(await client.get("/lora-atlas/loras?role=styles"))
    assert {it["path"] for it in styles["items"]} == {"styles/watercolor.safetensors", "styles/ink_xl.safetensors"}
    found = await _json(await client.get("/lora-atlas/loras?q=STYLES/WATER"))
    assert [it["path"] for it in found["items"]] == ["styles/watercolor.safetensors"]
    assert found["items"][0]["has_preview"] is True
    loha = await _json(await client.get("/lora-atlas/loras?adapter=loha"))
    assert [it["path"] for it in loha["items"]] == ["concepts/texture.safetensors"]
    bad = await _json(await client.get("/lora-atlas/loras?ok=0"))
    assert [it["path"] for it in bad["items"]] == ["broken.safetensors"]
    by_size = await _json(await client.get("/lora-atlas/loras?sort=-size&ok=1"))
    sizes = [it["size"] for it in by_size["items"]]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("query", ["offset=-1", "limit=100000", "limit=abc", "sort=nope", "ok=maybe",
                                   "q=" + "x" * 500])
async def test_listing_bad_parameters(client, query):
    await _error(await client.get("/lora-atlas/loras?" + query), 400)


async def test_api_prefix_is_not_ours_but_routes_have_no_api_prefix(client):
    # ComfyUI adds /api/... itself; the pack registers only /lora-atlas/...
    assert (await client.get("/api/lora-atlas/loras")).status == 404


async def test_detail_and_unknown_id(client):
    items = (await _json(await client.get("/lora-atlas/loras?q=styles/watercolor")))["items"]
    doc = await _json(await client.get(f"/lora-atlas/loras/{items[0]['id']}"))
    assert doc["classification"]["architecture"] == "sd1"
    assert doc["analysis"]["ok"] and any(b["energy"] > 0 for b in doc["analysis"]["blocks"])
    assert doc["preview_url"] == f"/lora-atlas/preview/{items[0]['id']}"
    assert doc["config"] is None and doc["default_weight"] == 1.0
    await _error(await client.get("/lora-atlas/loras/nope"), 404)
    await _error(await client.get("/lora-atlas/loras/" + "x" * 300), 400)


async def test_preview_by_id_and_confinement(client, library, tmp_path):
    items = (await _json(await client.get("/lora-atlas/loras?q=styles/watercolor")))["items"]
    resp = await client.get(f"/lora-atlas/preview/{items[0]['id']}")
    assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")
    ok = await client.get("/lora-atlas/preview?path=styles/watercolor.preview.png")
    assert ok.status == 200
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    os.symlink(secret, os.path.join(library, "styles", "link.png"))
    for bad, status in [("../secret.png", 403), ("styles/../../secret.png", 403), (str(secret), 403),
                        ("styles/link.png", 403), ("%2e%2e/secret.png", 403), ("characters/hero.safetensors", 403),
                        ("styles/none.png", 404), ("..\\secret.png", 403)]:
        resp = await client.get("/lora-atlas/preview", params={"path": bad})
        await _error(resp, status if "%" not in bad else resp.status)
        assert resp.status in (403, 404)
    # encoded in the raw URL: aiohttp decodes once, the check runs on the decoded text
    await _error(await client.get("/lora-atlas/preview?path=%2E%2E%2Fsecret.png"), 403)
    await _error(await client.get("/lora-atlas/preview?path=..%2F..%2Fetc%2Fpasswd"), 403)
    await _error(await client.get("/lora-atlas/preview?path=/etc/passwd"), 403)
    await _error(await client.get("/lora-atlas/preview?path=a%00b.png"), 400)
    await _error(await client.get("/lora-atlas/preview?path=x.png&root=7"), 400)
    await _error(await client.get("/lora-atlas/preview/unknown-id"), 404)


def _cli_plan(paths_strengths) -> dict:
    args = [f"{p}:{s}" for p, s in paths_strengths]
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "plan", *args, "--json"], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


async def test_plan_equals_cli(client, library):
    items = (await _json(await client.get("/lora-atlas/loras?architecture=sd1&ok=1")))["items"]
    by_path = {it["path"]: it for it in items}
    body = {"loras": [{"id": by_path["styles/watercolor.safetensors"]["id"], "strength_model": 0.9},
                      {"path": "characters/hero.safetensors", "strength_model": 0.8}], "policy": "balanced"}
    plan = await _json(await client.post("/lora-atlas/plan", json=body))
    real = os.path.realpath(library)
    expected = _cli_plan([(os.path.join(real, "styles/watercolor.safetensors"), 0.9),
                          (os.path.join(real, "characters/hero.safetensors"), 0.8)])
    assert plan == expected
    assert all(lo["block_vector"] for lo in plan["loras"])


@pytest.mark.parametrize("body, status", [
    ({"loras": [{"path": "../outside.safetensors"}]}, 403),
    ({"loras": [{"path": "/etc/passwd"}]}, 403),
    ({"loras": [{"path": "styles/nope.safetensors"}]}, 404),
    ({"loras": [{"id": "unknown"}]}, 404),
    ({"loras": [{"path": "styles/watercolor.safetensors", "strength_model": "1"}]}, 400),
    ({"loras": [{"path": "styles/watercolor.safetensors", "strength_model": True}]}, 400),
    ({"loras": [{"path": "styles/watercolor.safetensors", "strength_model": 99}]}, 400),
    ({"loras": [{"path": "styles/watercolor.safetensors"}], "policy": "loudest"}, 400),
    ({"loras": "styles/watercolor.safetensors"}, 400),
    ({"loras": []}, 400),
    ({"loras": [{"path": "styles/watercolor.safetensors"}], "extra": 1}, 400),
    ({"loras": [{"path": "styles/watercolor.safetensors"}, {"path": "styles/ink_xl.safetensors"}]}, 400),
    ([1, 2], 400),
])
async def test_plan_bad_requests(client, body, status):
    await _error(await client.post("/lora-atlas/plan", json=body), status)


async def test_bad_bodies(client):
    await _error(await client.post("/lora-atlas/plan", data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    await _error(await client.post("/lora-atlas/plan", data=b""), 400)
    await _error(await client.post("/lora-atlas/plan", data=b"x" * (2 << 20)), 413)


async def test_plans_save_list_load_export_delete(client):
    req = {"loras": [{"path": "styles/watercolor.safetensors", "strength_model": 0.7},
                     {"path": "characters/hero.safetensors"}], "policy": "balanced"}
    saved = await _json(await client.post("/lora-atlas/plans", json={"name": "duo", "request": req}), 201)
    await _error(await client.post("/lora-atlas/plans", json={"name": "duo", "request": req}), 409)
    await _error(await client.post("/lora-atlas/plans", json={"name": "", "request": req}), 400)
    listed = await _json(await client.get("/lora-atlas/plans"))
    assert [p["name"] for p in listed["plans"]] == ["duo"]
    loaded = await _json(await client.get(f"/lora-atlas/plans/{saved['id']}"))
    assert loaded["inputs"]["policy"] == "balanced" and loaded["plan"]["policy"] == "balanced"
    assert [lo["strength_model"] for lo in loaded["inputs"]["loras"]] == [0.7, 1.0]
    assert loaded["plan"] == (await _json(await client.post("/lora-atlas/plan", json=req)))
    by_name = await _json(await client.get("/lora-atlas/plans/duo"))
    assert by_name["id"] == saved["id"]
    for fmt in ("json", "csv", "text", "inspire", "a1111"):
        resp = await client.get(f"/lora-atlas/plans/{saved['id']}/export?format={fmt}")
        assert resp.status == 200 and (await resp.text()).strip()
    text = await (await client.get(f"/lora-atlas/plans/{saved['id']}/export?format=inspire")).text()
    assert "block_vector=" in text
    await _error(await client.get(f"/lora-atlas/plans/{saved['id']}/export?format=docx"), 400)
    await _error(await client.get("/lora-atlas/plans/999"), 404)
    await _error(await client.get("/lora-atlas/plans/abc"), 404)
    await _error(await client.post("/lora-atlas/plans", json={"name": "123", "request": req}), 400)
    await _error(await client.post("/lora-atlas/plans", json={"name": "x", "request": {"loras": []}}), 400)
    await _json(await client.delete(f"/lora-atlas/plans/{saved['id']}"))
    await _error(await client.delete(f"/lora-atlas/plans/{saved['id']}"), 404)


async def test_profiles_and_plan_with_profile(client):
    await _json(await client.put("/lora-atlas/profiles/soft-out", json={"multipliers": {"OUT": 0.5}}))
    await _error(await client.put("/lora-atlas/profiles/bad", json={"multipliers": {"OUT": "half"}}), 400)
    await _error(await client.put("/lora-atlas/profiles/bad", json=[1]), 400)
    doc = await _json(await client.get("/lora-atlas/profiles"))
    assert doc["profiles"] == {"soft-out": {"OUT": 0.5}}
    plan = await _json(await client.post("/lora-atlas/plan", json={
        "loras": [{"path": "styles/watercolor.safetensors", "profile": "soft-out"}], "policy": "none"}))
    ratios = {b["block"]: b["ratio"] for b in plan["loras"][0]["blocks"]}
    assert ratios["OUT3"] == 0.5 and ratios["IN1"] == 1.0
    await _error(await client.post("/lora-atlas/plan", json={
        "loras": [{"path": "styles/watercolor.safetensors", "profile": "missing"}]}), 400)
    await _json(await client.delete("/lora-atlas/profiles/soft-out"))
    await _error(await client.delete("/lora-atlas/profiles/soft-out"), 404)


async def _wait(client, job_id):
    for _ in range(600):
        job = await _json(await client.get(f"/lora-atlas/jobs/{job_id}"))
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("job did not finish")


async def test_jobs_organize_check_reconcile_undo_with_events(client, library, events):
    before = sorted(os.path.relpath(os.path.join(d, f), library) for d, _, fs in os.walk(library) for f in fs
                    if ".lora-atlas" not in d)
    check = await _json(await client.post("/lora-atlas/jobs/check", json={"root": 0}), 202)
    done = await _wait(client, check["job"]["id"])
    assert done["state"] == "done" and done["result"]["plan"]["items"]
    org = await _json(await client.post("/lora-atlas/jobs/organize", json={"root": 0, "previews": False}), 202)
    done = await _wait(client, org["job"]["id"])
    assert done["state"] == "done", done
    assert os.path.exists(os.path.join(library, "styles", "watercolor", "watercolor.safetensors"))
    assert any(e == EVENT_JOB and d["id"] == org["job"]["id"] and d["state"] == "done" for e, d in events)
    # the listing follows the moves at once (no stale cache)
    items = (await _json(await client.get("/lora-atlas/loras?q=styles/watercolor")))["items"]
    assert items[0]["path"] == "styles/watercolor/watercolor.safetensors" and items[0]["has_config"]
    rec = await _json(await client.post("/lora-atlas/jobs/reconcile", json={"root": 0}), 202)
    assert (await _wait(client, rec["job"]["id"]))["result"]["ok"] is True
    undo = await _json(await client.post("/lora-atlas/jobs/undo"), 202)
    assert (await _wait(client, undo["job"]["id"]))["state"] == "done"
    after = sorted(os.path.relpath(os.path.join(d, f), library) for d, _, fs in os.walk(library) for f in fs
                   if ".lora-atlas" not in d)
    assert after == before
    jobs = await _json(await client.get("/lora-atlas/jobs"))
    assert len(jobs["jobs"]) == 4


async def test_jobs_bad_input(client):
    await _error(await client.post("/lora-atlas/jobs/format-disk", json={}), 404)
    await _error(await client.post("/lora-atlas/jobs/organize", json={"root": 3}), 400)
    await _error(await client.post("/lora-atlas/jobs/organize", json={"root": "0"}), 400)
    await _error(await client.post("/lora-atlas/jobs/organize", json={"allow": "sd9"}), 400)
    await _error(await client.post("/lora-atlas/jobs/organize", json={"previews": "no"}), 400)
    await _error(await client.post("/lora-atlas/jobs/organize", json={"rm": True}), 400)
    await _error(await client.get("/lora-atlas/jobs/12345"), 404)


async def test_concurrent_organize_requests(client, library):
    resps = await asyncio.gather(*[client.post("/lora-atlas/jobs/organize", json={"root": 0, "previews": False})
                                   for _ in range(6)])
    statuses = sorted(r.status for r in resps)
    started = [await r.json() for r in resps if r.status == 202]
    for r in resps:
        if r.status != 202:
            assert "still running" in await _error(r, 409)
    assert statuses.count(202) >= 1 and set(statuses) <= {202, 409}
    results = [await _wait(client, s["job"]["id"]) for s in started]
    # jobs that did start one after another: the first moved the files, the others found nothing to do
    assert all(r["state"] == "done" for r in results)
    assert os.path.exists(os.path.join(library, "characters", "hero", "hero.safetensors"))


async def test_config_edit(client, library):
    org = await _json(await client.post("/lora-atlas/jobs/organize", json={"previews": False}), 202)
    await _wait(client, org["job"]["id"])
    item = (await _json(await client.get("/lora-atlas/loras?q=characters/hero")))["items"][0]
    doc = await _json(await client.patch(f"/lora-atlas/loras/{item['id']}/config",
                                         json={"name": "Hero", "default_weight": 0.7, "trigger_words": ["hero"]}))
    assert doc["config"]["name"] == "Hero"
    detail = await _json(await client.get(f"/lora-atlas/loras/{item['id']}?analysis=0"))
    assert detail["config"]["default_weight"] == 0.7 and detail["trigger_words"] == ["hero"]
    for bad in ({"default_weight": "0.7"}, {"default_weight": 50}, {"architecture": "sdxl"}, {"tags": "a"}, {}, [1]):
        await _error(await client.patch(f"/lora-atlas/loras/{item['id']}/config", json=bad), 400)
    await _error(await client.patch("/lora-atlas/loras/nope/config", json={"name": "x"}), 404)


async def test_config_edit_needs_organize(client):
    item = (await _json(await client.get("/lora-atlas/loras?q=characters/hero")))["items"][0]
    await _error(await client.post(f"/lora-atlas/loras/{item['id']}/config", json={"name": "x"}), 409)


async def test_settings(client, library):
    doc = await _json(await client.get("/lora-atlas/settings"))
    assert doc["roots"] == [{"index": 0, "path": os.path.realpath(library)}]
    assert "balanced" in doc["policies"]
    upd = await _json(await client.put("/lora-atlas/settings", json={"rescan_interval": 5}))
    assert upd["rescan_interval"] == 5
    await _error(await client.put("/lora-atlas/settings", json={"rescan_interval": 0}), 400)
    await _error(await client.put("/lora-atlas/settings", json={"roots": ["/"]}), 400)


async def test_new_files_appear_after_refresh(client, library):
    from lora_atlas.demo.synthetic_loras import write_fixture
    os.makedirs(os.path.join(library, "poses"))
    write_fixture("sd1_lora", os.path.join(library, "poses", "jump.safetensors"), rank=2, seed=9)
    doc = await _json(await client.get("/lora-atlas/loras?refresh=1&q=jump"))
    assert doc["total"] == 1 and doc["items"][0]["role"] == "poses"


async def test_templates_and_plan_history_routes(client):
    req = {"loras": [{"path": "styles/watercolor.safetensors", "strength_model": 0.7},
                     {"path": "characters/hero.safetensors"}]}
    await _json(await client.put("/lora-atlas/profiles/soft-out", json={"multipliers": {"OUT": 0.5}}))
    saved = await _json(await client.put("/lora-atlas/templates/portrait", json={
        "policy": "role-priority", "headroom": 0.3, "profiles": {"styles": "soft-out"}}))
    assert saved["name"] == "portrait" and saved["policy"] == "role-priority" and saved["headroom"] == 0.3
    listed = await _json(await client.get("/lora-atlas/templates"))
    assert [t["name"] for t in listed["templates"]] == ["portrait"]
    one = await _json(await client.get("/lora-atlas/templates/portrait"))
    assert one["profiles"] == {"styles": "soft-out"}
    await _error(await client.put("/lora-atlas/templates/bad", json={"policy": "loud"}), 400)
    await _error(await client.get("/lora-atlas/templates/nope"), 404)
    plan = await _json(await client.post("/lora-atlas/plan", json=req | {"template": "portrait"}))
    assert plan["policy"] == "role-priority" and plan["headroom"] == 0.3
    water = next(lo for lo in plan["loras"] if lo["path"].endswith("watercolor.safetensors"))
    assert {b["block"]: b["ratio"] for b in water["blocks"]}["OUT3"] <= 0.5
    explicit = await _json(await client.post("/lora-atlas/plan", json=req | {"template": "portrait", "policy": "none"}))
    assert explicit["policy"] == "none"                 # what the request says wins over the template
    await _error(await client.post("/lora-atlas/plan", json=req | {"template": "nope"}), 400)
    history = await _json(await client.get("/lora-atlas/plan-history?limit=5"))
    assert len(history["history"]) == 2 and history["history"][0]["policy"] == "none"
    entry = await _json(await client.get(f"/lora-atlas/plan-history/{history['history'][1]['id']}"))
    assert entry["plan"] == plan and entry["inputs"]["policy"] == "role-priority"
    await _error(await client.get("/lora-atlas/plan-history/99999"), 404)
    await _error(await client.get("/lora-atlas/plan-history/abc"), 404)
    await _json(await client.delete("/lora-atlas/templates/portrait"))
    await _error(await client.delete("/lora-atlas/templates/portrait"), 404)


async def test_detail_reads_the_store_and_measures_once(client, monkeypatch):
    """The classification comes from the scan's row and the analysis from the store's cache: the
    LoRA file is not inspected again, and a second request (or the Analyzer) measures nothing."""
    from lora_atlas.library import analysis_cache, lora_details
    listing = await _json(await client.get("/lora-atlas/loras?q=watercolor"))
    lora_id = listing["items"][0]["id"]
    monkeypatch.setattr(lora_details, "inspect_file", lambda p: pytest.fail("re-inspected a known LoRA"))
    measured = []
    real = analysis_cache.analyze_file
    monkeypatch.setattr(analysis_cache, "analyze_file", lambda p: measured.append(p) or real(p))
    first = await _json(await client.get(f"/lora-atlas/loras/{lora_id}"))
    again = await _json(await client.get(f"/lora-atlas/loras/{lora_id}"))
    assert first == again and first["analysis"]["ok"] and first["classification"]["architecture"] == "sd1"
    assert len(measured) == 1 and measured[0].endswith(first["path"])
    assert first["analysis"]["path"] == measured[0]


async def test_plans_and_details_work_while_a_writer_holds_the_library(client, library):
    """Planning and the detail route write only store rows (history, cache), so they neither wait
    for nor take the writer lock: an organize running meanwhile is never made busy by them."""
    from lora_atlas.library.lock import library_lock
    listing = await _json(await client.get("/lora-atlas/loras?q=watercolor"))
    req = {"loras": [{"path": "styles/watercolor.safetensors"}, {"path": "characters/hero.safetensors"}]}
    with library_lock(library, "organize"):
        plan = await _json(await client.post("/lora-atlas/plan", json=req))
        detail = await _json(await client.get(f"/lora-atlas/loras/{listing['items'][0]['id']}"))
        history = await _json(await client.get("/lora-atlas/plan-history"))
    assert len(plan["loras"]) == 2 and detail["analysis"]["ok"]
    assert history["history"][0]["loras"] == [lo["path"] for lo in plan["loras"]]
