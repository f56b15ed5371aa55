"""Handlers of plans: plan a stack, saved plans and their exports, plan history, templates and
profiles. Each validates the request and calls one library function in the primary library."""

from __future__ import annotations

import contextlib
import os

from aiohttp import web

from ..library import plan_templates, profiles, saved_plans
from ..library.errors import NotFound
from ..library.plan_exports import CONTENT_TYPES, export_plan
from ..library.plan_requests import PlanRequest
from ..library.roles import role_at
from ..library.roots import confine
from .errors import ApiError
from .http import int_param, json_response, read_json


def _resolver(state, held: contextlib.ExitStack):
    """resolve(entry, where) -> (real path, role) of a plan request's LoRA, inside the LoRA roots
    (by id too: a listed LoRA whose file is a link leading outside its root is refused). Each root
    is held against writing jobs (`state.reading`) into `held` until the plan is made."""
    def resolve(entry, where):
        if "id" in entry:
            item, real = held.enter_context(state.reading_lora(entry["id"]))
            return real, item["role"]
        given = entry["path" if "path" in entry else "lora_name"]
        try:
            index, _, _ = confine(state.roots(), given, entry.get("root"))
        except NotFound:
            for root in state.roots():       # not there: perhaps because a job is moving it now
                with state.reading(root):
                    pass
            raise
        held.enter_context(state.reading(state.roots()[index]))
        _, rel, real = confine(state.roots(), given, index)      # again, now that no job moves it
        return real, role_at(rel, os.path.dirname(real))
    return resolve


def _plan(state, body, save_as=None):
    with contextlib.ExitStack() as held:
        return state.plan(PlanRequest.from_json(body, _resolver(state, held)), save_as)


async def plan(request, ctx):
    body = await read_json(request)
    return json_response((await ctx.run(_plan, ctx.state, body)).plan)


async def list_plans(request, ctx):
    return json_response({"plans": await ctx.run(_in_store, ctx.state, saved_plans.list_plans)})


async def save_plan(request, ctx):
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"name", "request"}:
        raise ApiError(400, "expected {\"name\", \"request\"} (the plan request to compute and keep)")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ApiError(400, "name: expected a non-empty text of at most 200 characters")
    result = await ctx.run(_plan, ctx.state, body.get("request"), name)
    return json_response({"id": result.saved_id, "name": name}, 201)


def _in_store(state, fn, *args):
    with state.documents() as store:
        return fn(store, *args)


def _saved(state, plan_id) -> dict:
    with state.documents() as store:
        saved = saved_plans.load_saved(store, plan_id, state.primary_root())
    return {"id": saved.id, "name": saved.name, "created_at": saved.created_at, "plan": saved.plan,
            "inputs": saved.inputs, "problems": saved.problems}


async def get_plan(request, ctx):
    return json_response(await ctx.run(_saved, ctx.state, request.match_info["pid"]))


async def delete_plan(request, ctx):
    await ctx.run(_in_store, ctx.state, saved_plans.delete_plan, request.match_info["pid"])
    return json_response({"deleted": True})


async def export_saved_plan(request, ctx):
    saved = await ctx.run(_saved, ctx.state, request.match_info["pid"])
    fmt = request.query.get("format", "json")
    text = export_plan(saved["plan"], fmt)
    return web.Response(text=text, content_type=CONTENT_TYPES[fmt])


async def plan_history(request, ctx):
    limit = int_param(request.query.get("limit", "50"), "limit")
    return json_response({"history": await ctx.run(_in_store, ctx.state, saved_plans.plan_history, limit)})


def _history_entry(state, entry_id: int) -> dict:
    with state.documents() as store:
        entry = saved_plans.history_entry(store, entry_id)
    entry.pop("text")
    return entry


async def get_history_entry(request, ctx):
    return json_response(await ctx.run(_history_entry, ctx.state, int_param(request.match_info["hid"], "id")))


async def list_templates(request, ctx):
    return json_response({"templates": await ctx.run(_in_store, ctx.state, plan_templates.list_templates)})


async def get_template(request, ctx):
    name = request.match_info["name"]
    return json_response({"name": name, **await ctx.run(_in_store, ctx.state, plan_templates.load_template, name)})


async def put_template(request, ctx):
    body = await read_json(request)
    return json_response(await ctx.run(_in_store, ctx.state, plan_templates.save_template,
                                       request.match_info["name"], body))


async def delete_template(request, ctx):
    await ctx.run(_in_store, ctx.state, plan_templates.delete_template, request.match_info["name"])
    return json_response({"deleted": True})


def _profiles(state) -> dict:
    with state.documents() as store:
        return {p["name"]: p["multipliers"] for p in profiles.list_profiles(store)}


async def list_profiles(request, ctx):
    return json_response({"profiles": await ctx.run(_profiles, ctx.state)})


async def put_profile(request, ctx):
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"multipliers"}:
        raise ApiError(400, "expected {\"multipliers\": {\"OUT\": 0.5, \"IN4\": 0, ...}}")
    return json_response(await ctx.run(_in_store, ctx.state, profiles.save_profile, request.match_info["name"],
                                       body["multipliers"]))


async def delete_profile(request, ctx):
    await ctx.run(_in_store, ctx.state, profiles.delete_profile, request.match_info["name"])
    return json_response({"deleted": True})
