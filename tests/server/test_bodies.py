"""Request bodies on a real aiohttp server on loopback, sent the ways real clients send them: in
several TCP segments, chunked, large but valid, too large, and hostile (issue 13, items 7 and 9)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest


async def _raw(client, method: str, path: str, headers: dict, parts, pause: float = 0.1):
    """(status, JSON body) of a request written by hand on a socket: `parts` are sent one by one,
    `pause` seconds apart, so the server sees the body arrive in pieces."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{client.server.port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"

    async def send():
        try:
            writer.write(head.encode())
            for part in parts:
                await writer.drain()
                await asyncio.sleep(pause)
                writer.write(part)
            await writer.drain()
        except ConnectionError:           # the server answered (413) and closed before the end
            pass

    sender = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        sender.cancel()
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def _chunked(parts) -> list:
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


async def test_a_body_sent_in_two_segments_is_read_whole(client):
    body = b'{"auto_scan":true}'
    assert len(body) == 18
    status, doc = await _raw(client, "PUT", "/lora-atlas/settings",
                             {"Content-Type": "application/json", "Content-Length": "18"}, [body[:9], body[9:]])
    assert status == 200 and doc["auto_scan"] is True, doc
    status, doc = await _raw(client, "PUT", "/lora-atlas/settings",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             _chunked([body[:5], body[5:12], body[12:]]))
    assert status == 200 and doc["auto_scan"] is True, doc


async def test_a_valid_700_kb_plan_is_planned(client):
    request = {"loras": [{"path": "styles/watercolor.safetensors", "strength_model": 0.8},
                         {"path": "characters/hero.safetensors"}], "policy": "balanced"}
    text = json.dumps(request)
    body = (text[:-1] + " " * 700_000 + "}").encode()          # valid JSON, 700 KB
    resp = await client.post("/lora-atlas/plan", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    small = await client.post("/lora-atlas/plan", json=request)
    assert await resp.json() == await small.json()


async def test_a_100_mb_chunked_body_is_413_not_400(client):
    chunk = b"[" + b" " * (1 << 20) + b"]"
    status, doc = await _raw(client, "POST", "/lora-atlas/plan",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             _chunked([chunk] * 100), pause=0)
    assert status == 413 and "too large" in doc["error"], doc
    # the same through aiohttp's client with a generator body (chunked, no Content-Length)
    async def gen():
        for _ in range(100):
            yield b" " * (1 << 20)
    resp = await client.post("/lora-atlas/plan", data=gen(), headers={"Content-Type": "application/json"})
    assert resp.status == 413, await resp.text()


HUGE = "4" * 4200                                # a JSON integer no float can hold


@pytest.mark.parametrize("path, method, body", [
    ("/lora-atlas/plan", "POST", '{"loras": [{"path": "styles/watercolor.safetensors", "strength_model": %s}]}'),
    ("/lora-atlas/plan", "POST", '{"loras": [{"path": "styles/watercolor.safetensors", "strength_clip": -%s}]}'),
    ("/lora-atlas/plan", "POST", '{"loras": [{"path": "styles/watercolor.safetensors"}], "headroom": %s}'),
    ("/lora-atlas/plan", "POST",
     '{"loras": [{"path": "styles/watercolor.safetensors", "profile": {"OUT": %s}}]}'),
    ("/lora-atlas/profiles/huge", "PUT", '{"multipliers": {"OUT": %s}}'),
    ("/lora-atlas/templates/huge", "PUT", '{"headroom": %s}'),
    ("/lora-atlas/settings", "PUT", '{"rescan_interval": %s}'),
])
async def test_a_4200_digit_number_is_400_not_500(client, path, method, body):
    resp = await client.request(method, path, data=(body % HUGE).encode(), headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert "internal error" not in (await resp.json())["error"]


@pytest.mark.parametrize("path, method", [("/lora-atlas/plan", "POST"), ("/lora-atlas/templates/deep", "PUT"),
                                          ("/lora-atlas/jobs/check", "POST")])
async def test_a_body_nested_100000_deep_is_400_not_500(client, path, method):
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, "[" * 200 + "]" * 200):
        resp = await client.request(method, path, data=body.encode(), headers={"Content-Type": "application/json"})
        assert resp.status == 400, await resp.text()
        assert "nested too deeply" in (await resp.json())["error"]


async def test_a_lone_surrogate_is_400_not_500(client, ctx, library):
    from lora_atlas.library import operations
    operations.organize(library, previews=False)
    ctx.state.refresh()
    item = (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]
    config = os.path.join(library, "characters", "hero", "config.yaml")
    before = open(config, "rb").read()
    for path, method, body in ((f"/lora-atlas/loras/{item['id']}/config", "PATCH", '{"notes": "a\\ud800b"}'),
                               (f"/lora-atlas/loras/{item['id']}/config", "POST", '{"tags": ["\\udfff"]}'),
                               ("/lora-atlas/plans", "POST", '{"name": "\\ud800", "request": {"loras": []}}'),
                               ("/lora-atlas/templates/t", "PUT", '{"policy": "none", "profiles": {"\\ud800": "x"}}')):
        resp = await client.request(method, path, data=body.encode(), headers={"Content-Type": "application/json"})
        assert resp.status == 400, (path, await resp.text())
        assert "Unicode" in (await resp.json())["error"]
    assert open(config, "rb").read() == before


def test_config_edit_refuses_a_lone_surrogate_before_writing():
    from lora_atlas.library.errors import InvalidDocument
    from lora_atlas.library.lora_details import check_edit
    with pytest.raises(InvalidDocument) as info:
        check_edit({"notes": "a\ud800", "trigger_words": ["ok", "\udfff"], "name": "fine"})
    assert info.value.problems == ["notes: not valid Unicode (a lone surrogate such as \\ud800)",
                                   "trigger_words: expected a list of texts"]


async def test_a_hand_edited_4200_digit_default_weight_is_no_weight(client, ctx, library):
    from lora_atlas.library import operations
    operations.organize(library, previews=False)
    ctx.state.refresh()
    item = (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]
    config = os.path.join(library, "characters", "hero", "config.yaml")
    text = open(config, encoding="utf-8").read().replace("default_weight: 1.0", f"default_weight: {HUGE}")
    open(config, "w", encoding="utf-8").write(text)
    resp = await client.get(f"/lora-atlas/loras/{item['id']}?analysis=0")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["default_weight"] == 1.0
