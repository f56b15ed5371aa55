"""`lora-atlas serve`: the routes without ComfyUI, as a plain aiohttp application bound to
loopback, with a `/ws` websocket that relays the server's events in ComfyUI's message shape
(`{"type": event, "data": ...}`, server/events.py) and the panel's files from `web/` when present.

Binding to loopback is not enough: any web page the user opens can make the browser send requests
to 127.0.0.1. A middleware runs `http.check_request` with the strict policy on every request (the
routes, `/ws` and the panel's files): a non-loopback Host (DNS rebinding), a foreign Origin or
`Sec-Fetch-Site: cross-site`, and a state-changing body that is not JSON are refused."""

from __future__ import annotations

import asyncio
import json
import os
import weakref

from aiohttp import WSCloseCode, web

from .context import Context
from .errors import ApiError
from .http import LOOPBACK_ONLY, check_request, error_response
from .routes import add_routes
from .state import LibraryState

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The application's Context, under a typed key (a plain string key draws aiohttp's NotAppKeyWarning).
CONTEXT = web.AppKey("lora_atlas", Context)
WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")


@web.middleware
async def refuse_forged(request, handler):
    """Every request of `serve` passes `check_request` before its handler (see the module doc)."""
    try:
        check_request(request, LOOPBACK_ONLY)
    except ApiError as exc:
        return error_response(exc.status, str(exc))
    return await handler(request)


def make_app(roots, *, state: LibraryState | None = None, auto_scan: bool = True) -> web.Application:
    app = web.Application(client_max_size=2 << 20, middlewares=[refuse_forged])
    sockets: weakref.WeakSet = weakref.WeakSet()
    loop_box = {}

    def send(event: str, data) -> None:          # thread-safe, like PromptServer.send_sync
        loop = loop_box.get("loop")
        if loop is None or loop.is_closed():
            return
        message = json.dumps({"type": event, "data": data}, default=str)
        for ws in list(sockets):
            loop.call_soon_threadsafe(lambda ws=ws: asyncio.ensure_future(ws.send_str(message)))

    if state is None:
        state = LibraryState(roots, auto_scan=auto_scan)
    state.send = send
    ctx = app[CONTEXT] = Context(state)
    routes = web.RouteTableDef()
    add_routes(routes, ctx, policy=None)          # refuse_forged checks every request already

    @routes.get("/ws")
    async def events(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        async for _ in ws:
            pass
        return ws

    index_html = os.path.join(WEB_DIR, "index.html")
    if os.path.isfile(index_html):
        @routes.get("/")
        async def panel(request):            # the panel's page (web/index.html, web/serve_main.js)
            return web.FileResponse(index_html, headers={"Cache-Control": "no-cache"})

    app.add_routes(routes)
    if os.path.isfile(index_html):
        app.router.add_static("/", WEB_DIR, show_index=False)

    async def started(app):
        loop_box["loop"] = asyncio.get_running_loop()

    async def closing(app):                  # an open panel must not hold Ctrl+C for a minute
        for ws in list(sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    async def stopped(app):
        ctx.close()

    app.on_startup.append(started)
    app.on_shutdown.append(closing)
    app.on_cleanup.append(stopped)
    return app
