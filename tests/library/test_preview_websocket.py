"""websocket.py, the stdlib websocket client the previews follow ComfyUI's events with, against a real
aiohttp websocket server on loopback (ComfyUI's own server library): text messages in order, binary
messages (latent previews) skipped, the server's pings answered (it would close the connection
otherwise), a close seen as the end of the stream, a refused handshake as an error."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from aiohttp import web

from lora_atlas.library.previews.websocket import WebSocket, WebSocketError


@pytest.fixture
def ws_server():
    """http://127.0.0.1:PORT with /ws (two texts, a binary, 0.8 s of pings, a large text, close) and /plain."""
    loop = asyncio.new_event_loop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def ws_handler(request):
        ws = web.WebSocketResponse(heartbeat=0.2)
        await ws.prepare(request)
        await ws.send_str('{"type": "status", "sid": "%s"}' % request.query.get("clientId"))
        await ws.send_bytes(b"\x00\x00\x00\x01" + b"\xff" * 70000)
        await ws.send_str("second")
        await asyncio.sleep(0.8)                   # heartbeats: unanswered, aiohttp would close here
        await ws.send_str("x" * 70000)
        await ws.close()
        return ws

    async def plain(request):
        return web.Response(text="not a websocket")
    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/plain", plain)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


def test_text_messages_in_order_binary_skipped_pings_answered_close_ends(ws_server):
    ws = WebSocket.connect(ws_server + "/ws?clientId=abc", timeout=5)
    ws.settimeout(10)
    assert ws.receive() == '{"type": "status", "sid": "abc"}'
    assert ws.receive() == "second"
    assert ws.receive() == "x" * 70000                 # after 0.8 s of pings: still open
    assert ws.receive() is None
    ws.close()


def test_a_server_that_is_not_a_websocket_is_an_error(ws_server):
    with pytest.raises(WebSocketError, match="refused the websocket"):
        WebSocket.connect(ws_server + "/plain", timeout=5)
    with pytest.raises(OSError):
        WebSocket.connect("http://127.0.0.1:9/ws", timeout=5)
