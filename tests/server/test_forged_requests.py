"""What a hostile web page can make the user's browser send is refused (issue 13, item 1): a foreign
Origin, `Sec-Fetch-Site: cross-site`, a Host that is not loopback (DNS rebinding), a state-changing
body that is not JSON, a websocket from another site. The same check runs on the bare route table
(every host), on `lora-atlas serve` (a middleware over /ws and the panel's files too) and, with
ComfyUI's flags, inside ComfyUI."""

from __future__ import annotations

import os
import sys
import types

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from lora_atlas.server.app import make_app
from lora_atlas.server.http import RequestPolicy, check_request
from lora_atlas.server.errors import ApiError

EVIL = "https://evil.example"


def _files(root) -> list:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                  if ".lora-atlas" not in d)


def _origin(client) -> str:
    return f"http://127.0.0.1:{client.server.port}"


async def _refused(resp, status=403) -> str:
    assert resp.status == status, await resp.text()
    doc = await resp.json()
    assert set(doc) == {"error"}
    return doc["error"]


async def test_cross_site_text_plain_organize_is_refused_and_nothing_moves(client, ctx, library):
    before = _files(library)
    for headers in ({"Origin": EVIL, "Content-Type": "text/plain"},
                    {"Origin": EVIL, "Content-Type": "application/json"},
                    {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
                    {"Origin": "null", "Content-Type": "text/plain"}):
        resp = await client.post("/lora-atlas/jobs/organize", data=b'{"root": 0}', headers=headers)
        assert "refused" in await _refused(resp)
    # no Origin at all (not a browser, or a form post from an old one): text/plain is still refused
    resp = await client.post("/lora-atlas/jobs/organize", data=b'{"root": 0}', headers={"Content-Type": "text/plain"})
    assert "application/json" in await _refused(resp, 415)
    resp = await client.post("/lora-atlas/jobs/organize", data=b"", headers={"Origin": EVIL, "Content-Type": "text/plain"})
    await _refused(resp)
    assert ctx.jobs.jobs() == [] and _files(library) == before


async def test_config_post_alias_takes_json_only(client, ctx, library):
    org = await client.post("/lora-atlas/jobs/organize", json={"previews": False})
    ctx.jobs.wait((await org.json())["job"]["id"])
    item = (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]
    config = os.path.join(library, "characters", "hero", "config.yaml")
    before = open(config, encoding="utf-8").read()
    url = f"/lora-atlas/loras/{item['id']}/config"
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        await _refused(await client.post(url, data=b'{"notes": "pwned"}', headers={"Content-Type": ctype}), 415)
    await _refused(await client.post(url, data=b'{"notes": "pwned"}', headers={"Origin": EVIL,
                                                                              "Content-Type": "application/json"}))
    assert open(config, encoding="utf-8").read() == before
    # the panel's own request: same origin, JSON
    ok = await client.post(url, json={"notes": "mine"}, headers={"Origin": _origin(client),
                                                                  "Sec-Fetch-Site": "same-origin"})
    assert ok.status == 200, await ok.text()


async def test_dns_rebinding_host_is_refused(client, library):
    port = client.server.port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", f"192.168.1.5:{port}"):
        resp = await client.get("/lora-atlas/settings", headers={"Host": host})
        text = await _refused(resp)
        assert os.path.realpath(library) not in text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST", f"127.0.0.2:{port}"):
        resp = await client.get("/lora-atlas/settings", headers={"Host": host})
        assert resp.status == 200, (host, await resp.text())


async def test_same_origin_requests_pass(client):
    port = client.server.port
    for origin, host in ((f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
                         (f"http://localhost:{port}", f"localhost:{port}"),
                         (f"http://[::1]:{port}", f"[::1]:{port}")):
        resp = await client.get("/lora-atlas/settings", headers={"Origin": origin, "Host": host})
        assert resp.status == 200, await resp.text()
        resp = await client.put("/lora-atlas/settings", json={"auto_scan": False}, headers={"Origin": origin, "Host": host})
        assert resp.status == 200, await resp.text()
    # another port of the same machine is another origin (e.g. a page served on :8080)
    resp = await client.put("/lora-atlas/settings", json={"auto_scan": False},
                            headers={"Origin": f"http://127.0.0.1:{port + 1}", "Sec-Fetch-Site": "same-site"})
    await _refused(resp)
    resp = await client.put("/lora-atlas/settings", json={"auto_scan": False},
                            headers={"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"})
    assert resp.status == 200


@pytest.fixture
async def served_app(aiohttp_client, ctx):
    """`lora-atlas serve`'s application (its middleware, /ws) on the test's library."""
    return await aiohttp_client(make_app(None, state=ctx.state))


async def test_serve_refuses_a_foreign_websocket_and_host(served_app):
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await served_app.ws_connect("/ws", headers={"Origin": EVIL})
    assert info.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await served_app.ws_connect("/ws", headers={"Sec-Fetch-Site": "cross-site"})
    assert info.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await served_app.ws_connect("/ws", headers={"Host": "evil.example", "Origin": "http://evil.example"})
    ws = await served_app.ws_connect("/ws", headers={"Origin": _origin(served_app)})
    await ws.close()
    resp = await served_app.get("/lora-atlas/settings", headers={"Host": "evil.example:80"})
    await _refused(resp)
    resp = await served_app.post("/lora-atlas/jobs/organize", data=b"{}", headers={"Content-Type": "text/plain"})
    await _refused(resp, 415)


def _mocked(method="GET", headers=None):
    body = {"payload": object()} if "Content-Length" in (headers or {}) else {}      # body_exists
    return make_mocked_request(method, "/lora-atlas/settings", headers={"Host": "127.0.0.1:8188", **(headers or {})},
                               **body)


@pytest.fixture
def comfy_args(monkeypatch):
    """A stand-in for ComfyUI's `comfy.cli_args.args`."""
    def install(**kw):
        args = types.SimpleNamespace(listen="127.0.0.1", enable_cors_header=None, **kw)
        module = types.ModuleType("comfy.cli_args")
        module.args = args
        monkeypatch.setitem(sys.modules, "comfy.cli_args", module)
        return args
    return install


def test_inside_comfyui_the_policy_follows_listen_and_cors(comfy_args, monkeypatch):
    from lora_atlas.nodes.comfy_glue import request_policy
    comfy_args()
    policy = request_policy()
    assert policy == RequestPolicy(loopback_host=True)
    with pytest.raises(ApiError):
        check_request(_mocked(headers={"Host": "evil.example:8188"}), policy)
    # the user chose to listen on the network: a LAN Host is fine, a foreign Origin is still not
    comfy_args().listen = "0.0.0.0,::"
    policy = request_policy()
    assert not policy.loopback_host
    check_request(_mocked(headers={"Host": "192.168.1.5:8188", "Origin": "http://192.168.1.5:8188"}), policy)
    for headers in ({"Host": "192.168.1.5:8188", "Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        with pytest.raises(ApiError) as info:
            check_request(_mocked("POST", headers), policy)
        assert info.value.status == 403
    # a reverse proxy that rewrites Host: the browser's own same-origin verdict stands
    check_request(_mocked("POST", {"Host": "comfyui:8188", "Origin": "https://comfy.example.com",
                                   "Sec-Fetch-Site": "same-origin"}), policy)
    # --enable-cors-header: that origin is let through as ComfyUI lets it, but bodies stay JSON-only
    comfy_args().enable_cors_header = "https://my.app"
    policy = request_policy()
    check_request(_mocked("POST", {"Origin": "https://my.app", "Sec-Fetch-Site": "cross-site"}), policy)
    with pytest.raises(ApiError):
        check_request(_mocked("POST", {"Origin": EVIL}), policy)
    with pytest.raises(ApiError) as info:
        check_request(_mocked("POST", {"Origin": "https://my.app", "Content-Type": "text/plain",
                                       "Content-Length": "2"}), policy)
    assert info.value.status == 415
    # a loopback ComfyUI behind a reverse proxy names the proxy's host
    monkeypatch.setenv("LORA_ATLAS_ALLOWED_HOSTS", "comfy.example.com")
    comfy_args()
    check_request(_mocked(headers={"Host": "comfy.example.com"}), request_policy())


async def test_register_routes_inside_comfyui_applies_the_policy(aiohttp_client, ctx, comfy_args, monkeypatch):
    """comfy_glue attaches the routes to PromptServer's table with ComfyUI's policy: a foreign Origin
    and a text/plain body are refused even though ComfyUI's own middleware (absent here) might not."""
    from lora_atlas.nodes import comfy_glue
    comfy_args().listen = "0.0.0.0"
    table = web.RouteTableDef()
    server_module = types.ModuleType("server")
    server_module.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(routes=table))
    monkeypatch.setitem(sys.modules, "server", server_module)
    monkeypatch.setitem(sys.modules, "folder_paths", types.ModuleType("folder_paths"))
    monkeypatch.setattr(comfy_glue, "_context", ctx)
    assert comfy_glue.register_routes()
    app = web.Application()
    app.add_routes(table)
    client = await aiohttp_client(app)
    resp = await client.get("/lora-atlas/settings", headers={"Host": "192.168.1.5:8188"})
    assert resp.status == 200                      # listening on the network by the user's choice
    await _refused(await client.post("/lora-atlas/jobs/check", json={}, headers={"Origin": EVIL}))
    await _refused(await client.post("/lora-atlas/jobs/check", data=b"{}", headers={"Content-Type": "text/plain"}), 415)
    assert ctx.jobs.jobs() == []
