"""Request bodies on a real aiohttp server on loopback, sent the ways real clients send them: in
several TCP segments, chunked, large but valid, too large, and hostile (issue 13, items 7 and 9)."""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.asyncio


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
