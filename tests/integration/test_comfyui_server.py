"""The pack inside a real ComfyUI server (COMFYUI_DIR; spec/comfyui.md §7-8): it loads with no
import error, /object_info lists every node with its declared inputs, every route answers at
/lora-atlas/... and /api/lora-atlas/..., events reach a websocket client, and the graph
Browser → Planner → Apply LoRA Plan → KSampler → VAEDecode → SaveImage renders an image on a
random-weight SD1.5-shaped checkpoint. Tests run in file order: organize (which moves files) last.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid

import aiohttp
import pytest

from comfy_http import get, get_json, run_prompt, send   # tests/helpers, via pytest `pythonpath`
from lora_atlas import NODE_CLASS_MAPPINGS

pytestmark = pytest.mark.integration


_get, _send, _json = get, send, get_json


def _wait_job(server, job_id, base="/lora-atlas") -> dict:
    for _ in range(600):
        _, state = _json(server, f"{base}/jobs/{job_id}")
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _root_index(server) -> int:
    _, settings = _json(server, "/lora-atlas/settings")
    return [r["path"] for r in settings["roots"]].index(os.path.realpath(server["loras"]))


def test_pack_loads_without_import_error_and_quickly(comfy_server):
    log = comfy_server["log"].read_text()
    line = [ln for ln in log.splitlines() if ln.rstrip().endswith(os.path.join("custom_nodes", "lora_atlas"))]
    assert line, log[-3000:]
    assert "IMPORT FAILED" not in line[0]
    seconds = float(re.search(r"([\d.]+) seconds", line[0]).group(1))
    assert seconds < 0.15, line[0]
    assert "lora_atlas" not in "".join(ln for ln in log.splitlines() if "Traceback" in ln)


def test_object_info_lists_every_node_with_declared_inputs(comfy_server):
    status, info = _json(comfy_server, "/object_info")
    assert status == 200
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        assert node_id in info, node_id
        declared = cls.INPUT_TYPES()
        got = info[node_id]["input"]
        for section in ("required", "optional"):
            assert set(got.get(section, {})) == set(declared.get(section, {})), (node_id, section)
        assert info[node_id]["category"] == "LoRA Atlas"
        assert list(info[node_id]["output_name"]) == list(cls.RETURN_NAMES)
    # LoRA names come from ComfyUI's folder_paths (our extra_model_paths.yaml root)
    assert "characters/hero.safetensors" in info["LoraAtlasBlockAnalyzer"]["input"]["required"]["lora_name"][0]


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_routes_answer_through_the_real_server(comfy_server, prefix):
    base = prefix + "/lora-atlas"
    status, settings = _json(comfy_server, base + "/settings")
    assert status == 200
    roots = [r["path"] for r in settings["roots"]]
    assert os.path.realpath(comfy_server["loras"]) in roots       # from extra_model_paths.yaml
    root = roots.index(os.path.realpath(comfy_server["loras"]))
    status, listing = _json(comfy_server, base + "/loras?refresh=1&limit=100")
    assert status == 200 and listing["total"] == 5
    status, page = _json(comfy_server, base + "/loras?architecture=sd1&sort=-path&limit=2")
    assert page["total"] == 3 and len(page["items"]) == 2
    item = next(it for it in listing["items"] if it["path"] == "styles/watercolor.safetensors")
    status, detail = _json(comfy_server, f"{base}/loras/{item['id']}")
    assert status == 200 and detail["analysis"]["ok"] and detail["preview_url"]
    status, ctype, body = _get(comfy_server, f"{base}/preview/{item['id']}")
    assert status == 200 and body.startswith(b"\x89PNG")
    status, err = _json(comfy_server, base + "/preview?path=../../etc/passwd")
    assert status == 403 and set(err) == {"error"}
    status, err = _json(comfy_server, base + "/loras/unknown")
    assert status == 404 and set(err) == {"error"}
    req = {"loras": [{"id": item["id"], "strength_model": 0.9},
                     {"path": "characters/hero.safetensors", "root": root, "strength_model": 0.8}],
           "policy": "balanced"}
    status, plan = _send(comfy_server, "POST", base + "/plan", req)
    assert status == 200 and len(plan["loras"]) == 2 and plan["loras"][0]["block_vector"]
    status, err = _send(comfy_server, "POST", base + "/plan", {"loras": [{"path": "/etc/passwd"}]})
    assert status == 403 and set(err) == {"error"}
    name = "plan" + prefix.replace("/", "-")
    status, saved = _send(comfy_server, "POST", base + "/plans", {"name": name, "request": req})
    assert status == 201
    status, listed = _json(comfy_server, base + "/plans")
    assert name in [p["name"] for p in listed["plans"]]
    status, ctype, text = _get(comfy_server, f"{base}/plans/{saved['id']}/export?format=inspire")
    assert status == 200 and b"block_vector=" in text
    assert _send(comfy_server, "DELETE", f"{base}/plans/{saved['id']}")[0] == 200
    assert _send(comfy_server, "PUT", base + "/profiles/soft", {"multipliers": {"OUT": 0.5}})[0] == 200
    assert _json(comfy_server, base + "/profiles")[1]["profiles"]["soft"] == {"OUT": 0.5}
    assert _send(comfy_server, "DELETE", base + "/profiles/soft")[0] == 200
    status, job = _send(comfy_server, "POST", base + "/jobs/check", {"root": root})
    assert status == 202
    assert _wait_job(comfy_server, job["job"]["id"], base)["state"] == "done"


async def test_job_events_reach_a_websocket_client(comfy_server):
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{comfy_server['url']}/ws?clientId={client_id}") as ws:
            root = _root_index(comfy_server)
            async with session.post(comfy_server["url"] + "/api/lora-atlas/jobs/scan", json={"root": root}) as r:
                assert r.status == 202
                job_id = (await r.json())["job"]["id"]
            seen = []
            async with asyncio.timeout(60):
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue
                    doc = json.loads(msg.data)
                    if doc.get("type") == "lora-atlas.job" and doc["data"]["id"] == job_id:
                        seen.append(doc["data"]["state"])
                        if doc["data"]["state"] in ("done", "failed"):
                            break
            assert seen[-1] == "done" and "running" in seen


def _small(graph: dict) -> dict:
    """The example graph at 64×64 and 2 steps (CPU)."""
    from workflows import CKPT  # noqa: F401  (tests/helpers, via pytest `pythonpath`)
    g = json.loads(json.dumps(graph))
    for node in g.values():
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=64, height=64)
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 2
    return g


_run = run_prompt


def _graph():
    from workflows import GRAPHS
    g = _small(GRAPHS["lora_atlas_browse_plan_apply"])
    g["11"] = {"class_type": "LoraAtlasBlockAnalyzer", "inputs": {"lora_name": ["2", 0], "chart_width": 512}}
    g["12"] = {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}
    return g


def _scanned(server, timeout=120) -> None:
    """Wait for the server's first library scan: until then the Browser node says to queue again."""
    deadline = time.monotonic() + timeout
    while _json(server, "/lora-atlas/loras?limit=1")[1]["scanning"]:
        assert time.monotonic() < deadline, "the library scan did not end"
        time.sleep(0.2)


def test_graph_browser_planner_apply_renders_an_image(comfy_server):
    _scanned(comfy_server)
    entry = _run(comfy_server, _graph())
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[-3000:]
    image = entry["outputs"]["10"]["images"][0]
    path = os.path.join(comfy_server["output"], image["subfolder"], image["filename"])
    assert os.path.getsize(path) > 0
    assert entry["outputs"].get("12", {}).get("images"), list(entry["outputs"])    # the analyzer's chart
    assert "lora key not loaded" not in comfy_server["log"].read_text()          # every LoRA key mapped


def test_example_workflows_run(comfy_server):
    """Every example graph whose node types this server has (Inspire is not loaded here) runs;
    the widget order the UI files were written with is the server's own input order."""
    from workflows import GRAPHS, WIDGETS
    _, info = _json(comfy_server, "/object_info")
    for class_type, inputs in WIDGETS.items():
        if class_type in info:
            declared = [*info[class_type]["input"].get("required", {}), *info[class_type]["input"].get("optional", {})]
            assert declared == [name for name, _ in inputs], class_type
    ran = 0
    for name, graph in GRAPHS.items():
        if all(node["class_type"] in info for node in graph.values()):
            entry = _run(comfy_server, _small(graph))
            assert entry["status"]["status_str"] == "success", (name, json.dumps(entry["status"])[-2000:])
            ran += 1
    assert ran == 3


def test_organize_job_refreshes_comfyui_lora_list(comfy_server):
    root = _root_index(comfy_server)
    status, job = _send(comfy_server, "POST", "/api/lora-atlas/jobs/organize", {"root": root, "previews": False})
    assert status == 202
    status, again = _send(comfy_server, "POST", "/api/lora-atlas/jobs/organize", {"root": root})
    assert status in (202, 409)
    state = _wait_job(comfy_server, job["job"]["id"])
    assert state["state"] == "done", state
    _, info = _json(comfy_server, "/object_info/LoraLoader")
    names = info["LoraLoader"]["input"]["required"]["lora_name"][0]
    assert os.path.join("characters", "hero", "hero.safetensors") in names
    _, listing = _json(comfy_server, "/lora-atlas/loras?q=characters/hero")
    assert listing["items"][0]["path"] == "characters/hero/hero.safetensors"
