"""Handlers of background jobs and of the server's settings."""

from __future__ import annotations

from ..engine.adapters import ADAPTERS
from ..engine.architecture import ARCHITECTURES
from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, POLICIES
from ..version import __version__
from .errors import ApiError
from .http import int_param, json_response, read_json
from .preview_queue import PreviewQueue


async def start_job(request, ctx):
    body = await read_json(request) if request.can_read_body else {}
    root = body.get("root", 0) if isinstance(body, dict) else None
    return json_response({"job": ctx.jobs.start(request.match_info["action"], root, body)}, 202)


async def list_jobs(request, ctx):
    return json_response({"jobs": ctx.jobs.jobs()})


async def get_job(request, ctx):
    return json_response(ctx.jobs.job(int_param(request.match_info["jid"], "id")))


async def cancel_job(request, ctx):
    return json_response({"job": ctx.jobs.cancel(int_param(request.match_info["jid"], "id"))})


async def previews_queue(request, ctx):
    """The previews job's pending/running/done/failed counts and each LoRA's state."""
    return json_response(PreviewQueue.of(ctx.jobs).snapshot())


async def get_settings(request, ctx):
    state = ctx.state
    roots = await ctx.run(state.roots)
    return json_response({
        "version": __version__, "roots": [{"index": i, "path": r} for i, r in enumerate(roots)],
        "roots_source": state.roots_source, "policies": list(POLICIES),
        "default_policy": DEFAULT_POLICY, "default_headroom": DEFAULT_HEADROOM,
        "role_order": list(DEFAULT_ROLE_ORDER), "rescan_interval": state.rescan_interval,
        "auto_scan": state.auto_scan, "scanning": state.scanning,
        "architectures": list(ARCHITECTURES), "adapters": list(ADAPTERS)})   # the panel's filter choices


def check_settings(body) -> dict:
    """The settable settings of a PUT body; ApiError(400) naming what is wrong."""
    if not isinstance(body, dict) or set(body) - {"rescan_interval", "auto_scan"}:
        raise ApiError(400, "settable: rescan_interval (seconds, 1..86400), auto_scan (true/false)")
    if "rescan_interval" in body:
        v = body["rescan_interval"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 86400:
            raise ApiError(400, "rescan_interval: seconds between 1 and 86400")
    if "auto_scan" in body and not isinstance(body["auto_scan"], bool):
        raise ApiError(400, "auto_scan: expected true or false")
    return body


async def put_settings(request, ctx):
    body = check_settings(await read_json(request))
    state = ctx.state
    if "rescan_interval" in body:
        state.rescan_interval = float(body["rescan_interval"])
    if "auto_scan" in body:
        state.auto_scan = body["auto_scan"]
    return json_response({"rescan_interval": state.rescan_interval, "auto_scan": state.auto_scan})
