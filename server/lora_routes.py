"""Handlers of the library's LoRAs: the listing, one LoRA's detail, its config edit, previews."""

from __future__ import annotations

from aiohttp import web

from ..library.lora_details import edit_config, lora_detail
from ..library.queries import QueryError, public, query
from ..library.roots import confined_image
from .errors import ApiError
from .http import PREFIX, int_param, json_response, read_json


async def list_loras(request, ctx):
    state, p = ctx.state, request.query
    if p.get("refresh") in ("1", "true"):
        await ctx.run(state.refresh)

    def work(index=None):
        try:
            total, page = query(index or state.index(), q=p.get("q"), architecture=p.get("architecture"),
                                role=p.get("role"), adapter=p.get("adapter"), ok=p.get("ok"), sort=p.get("sort"),
                                offset=p.get("offset"), limit=p.get("limit"))
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        return {"total": total, "items": [public(it) for it in page], "scanning": state.scanning}
    index = state.fresh_index()          # warm: answer on the loop (about a millisecond), no thread hop
    return json_response(work(index) if index is not None else await ctx.run(work))


def _detail(state, lora_id: str, want_analysis: bool) -> dict:
    with state.reading_lora(lora_id) as (item, _):
        url = f"{PREFIX}/preview/{item['id']}" if item["has_preview"] else None
        paths = [it["path"] for it in state.find(lora_id)]
        return lora_detail(state.roots()[item["root"]], item, paths, want_analysis, url)


async def get_lora(request, ctx):
    want_analysis = request.query.get("analysis", "1") not in ("0", "false")
    return json_response(await ctx.run(_detail, ctx.state, request.match_info["id"], want_analysis))


def _edit(state, lora_id: str, body) -> dict:
    with state.reading_lora(lora_id) as (item, _):
        root = state.roots()[item["root"]]
        config = edit_config(root, item, body)
    state.bump(root)
    return {"id": lora_id, "config": config}


async def edit_lora_config(request, ctx):
    body = await read_json(request)
    return json_response(await ctx.run(_edit, ctx.state, request.match_info["id"], body))


def _preview_of(state, lora_id: str) -> str:
    with state.reading_lora(lora_id):
        for it in state.find(lora_id):
            if it["preview"]:
                return confined_image(state.roots(), it["preview"], it["root"])
    raise ApiError(404, "this LoRA has no preview image")


async def preview_by_id(request, ctx):
    return web.FileResponse(await ctx.run(_preview_of, ctx.state, request.match_info["id"]))


async def preview_by_path(request, ctx):
    root = request.query.get("root")
    root = None if root is None else int_param(root, "root")
    return web.FileResponse(await ctx.run(lambda: confined_image(ctx.state.roots(), request.query.get("path"), root)))
