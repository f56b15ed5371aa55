"""The route table: every HTTP route of LoRA Atlas, in one flat list. The panel's API module
(web/) mirrors it, a test checks that every route here answers and that every route the README
documents is here. A new route is one line here and a handler in the topic's module.

Routes live under /lora-atlas/ (ComfyUI also serves them at /api/lora-atlas/). `add_routes`
attaches them to any aiohttp `RouteTableDef`: ComfyUI's `PromptServer.instance.routes`,
`lora-atlas serve`'s app (server/app.py) or a test's bare application.
"""

from __future__ import annotations

import importlib

from .http import LOOPBACK_ONLY, PREFIX, check_request, guard

# (method, path under PREFIX, "topic_module.handler": an async handler(request, ctx) of this
# package). A handler's module is imported on the first request it serves, so attaching the table
# (ComfyUI's start-up) imports no library or engine module.
ROUTES = (
    ("GET", "/loras", "lora_routes.list_loras"),
    ("GET", "/loras/{id}", "lora_routes.get_lora"),
    ("PATCH", "/loras/{id}/config", "lora_routes.edit_lora_config"),
    ("POST", "/loras/{id}/config", "lora_routes.edit_lora_config"),
    ("GET", "/preview/{id}", "lora_routes.preview_by_id"),
    ("GET", "/preview", "lora_routes.preview_by_path"),
    ("POST", "/plan", "plan_routes.plan"),
    ("GET", "/plans", "plan_routes.list_plans"),
    ("POST", "/plans", "plan_routes.save_plan"),
    ("GET", "/plans/{pid}", "plan_routes.get_plan"),
    ("DELETE", "/plans/{pid}", "plan_routes.delete_plan"),
    ("GET", "/plans/{pid}/export", "plan_routes.export_saved_plan"),
    ("GET", "/plan-history", "plan_routes.plan_history"),
    ("GET", "/plan-history/{hid}", "plan_routes.get_history_entry"),
    ("GET", "/templates", "plan_routes.list_templates"),
    ("GET", "/templates/{name}", "plan_routes.get_template"),
    ("PUT", "/templates/{name}", "plan_routes.put_template"),
    ("DELETE", "/templates/{name}", "plan_routes.delete_template"),
    ("GET", "/profiles", "plan_routes.list_profiles"),
    ("PUT", "/profiles/{name}", "plan_routes.put_profile"),
    ("DELETE", "/profiles/{name}", "plan_routes.delete_profile"),
    ("POST", "/jobs/{action}", "job_routes.start_job"),
    ("GET", "/jobs", "job_routes.list_jobs"),
    ("GET", "/jobs/{jid}", "job_routes.get_job"),
    ("POST", "/jobs/{jid}/cancel", "job_routes.cancel_job"),
    ("GET", "/previews/queue", "job_routes.previews_queue"),
    ("GET", "/settings", "job_routes.get_settings"),
    ("PUT", "/settings", "job_routes.put_settings"),
)


def add_routes(routes, context, policy=LOOPBACK_ONLY) -> None:
    """Attach ROUTES to `routes`. `context` is a Context or a zero-argument callable returning one
    (ComfyUI builds it on first use, so importing the pack touches no library). Every route first
    passes `http.check_request(request, policy)` (forged cross-site requests are refused in every
    host); `policy=None` when the host's own middleware already runs that check on every request
    (`lora-atlas serve`, server/app.py)."""
    get_context = context if callable(context) else (lambda: context)
    for method, path, target in ROUTES:
        routes.route(method, PREFIX + path)(_bind(target, get_context, policy))


def handler_of(target: str):
    """The handler a ROUTES entry names ("lora_routes.list_loras"), its module imported now."""
    module, name = target.split(".")
    return getattr(importlib.import_module(f".{module}", __package__), name)


def _bind(target: str, get_context, policy):
    handler = None

    async def bound(request):
        nonlocal handler
        if policy is not None:
            check_request(request, policy)
        if handler is None:
            handler = handler_of(target)
        return await handler(request, get_context())
    bound.__name__ = target.split(".")[1]
    return guard(bound)
