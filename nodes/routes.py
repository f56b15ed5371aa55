"""HTTP routes under /lora-atlas/ (ComfyUI also serves them at /api/lora-atlas/).

`add_routes(routes, service)` attaches every handler to an aiohttp `RouteTableDef`: ComfyUI's
`PromptServer.instance.routes`, `lora-atlas serve`'s app, or a test's bare application. `service`
is an AtlasService or a zero-argument callable returning one (ComfyUI builds it on first use, so
importing the pack touches no library). Handlers are thin: validate, then `await run(fn)` where
`fn` is the service's plain synchronous code on its thread pool.

Every failure is `{"error": message}` with a 4xx status (500 only for a bug, without traceback).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os

from aiohttp import web

from .errors import ApiError

PREFIX = "/lora-atlas"
MAX_BODY = 1 << 20                       # 1 MiB: plans and config edits are small
CONFIG_FIELDS = {"name": str, "notes": str, "default_weight": float, "tags": list, "trigger_words": list}
log = logging.getLogger("lora_atlas")

try:
    import orjson

    def _dumps(doc) -> bytes:
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
except ImportError:  # pragma: no cover - orjson is a dependency
    def _dumps(doc) -> bytes:
        return json.dumps(doc).encode()


def json_response(doc, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(doc), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def _guard(fn):
    @functools.wraps(fn)
    async def handler(request):
        try:
            return await fn(request)
        except ApiError as exc:
            return error_response(exc.status, str(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the envelope promise: no traceback to the client
            log.exception("lora-atlas: %s %s failed", request.method, request.path)
            return error_response(500, f"internal error ({type(exc).__name__}); see the server log")
    return handler


async def read_json(request, limit: int = MAX_BODY):
    """The request's JSON body (any JSON value), with 413 past `limit` and 400 when malformed."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body too large: at most {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"body too large: at most {limit} bytes")
    if not raw.strip():
        raise ApiError(400, "expected a JSON body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON ({exc})") from None


def _int_param(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400 if name != "id" else 404, f"{name}: expected a whole number, got {value!r}") from None


def add_routes(routes: web.RouteTableDef, service) -> None:
    """Attach every /lora-atlas/ route to `routes` (see the module docstring)."""
    get_service = service if callable(service) and not hasattr(service, "items") else (lambda: service)

    async def run(fn, *args):
        svc = get_service()
        return await asyncio.get_running_loop().run_in_executor(svc.executor, functools.partial(fn, *args))

    # -- library ---------------------------------------------------------------------------------

    @routes.get(PREFIX + "/loras")
    @_guard
    async def list_loras(request):
        from ..library.queries import QueryError, public, query
        svc = get_service()
        p = request.query
        if p.get("refresh") in ("1", "true"):
            await run(svc.refresh)

        def work(index=None):
            try:
                total, page = query(index or svc.index(), q=p.get("q"), architecture=p.get("architecture"),
                                    role=p.get("role"), adapter=p.get("adapter"), ok=p.get("ok"), sort=p.get("sort"),
                                    offset=p.get("offset"), limit=p.get("limit"))
            except QueryError as exc:
                raise ApiError(400, str(exc)) from None
            return {"total": total, "items": [public(it) for it in page], "scanning": svc.scanning}
        index = svc.fresh_index()        # warm: answer on the loop (about a millisecond), no thread hop
        return json_response(work(index) if index is not None else await run(work))

    @routes.get(PREFIX + "/loras/{id}")
    @_guard
    async def lora_detail(request):
        svc = get_service()
        want_analysis = request.query.get("analysis", "1") not in ("0", "false")
        return json_response(await run(detail, svc, request.match_info["id"], want_analysis))

    async def edit_config(request):
        svc = get_service()
        body = await read_json(request)
        return json_response(await run(write_config, svc, request.match_info["id"], body))

    routes.patch(PREFIX + "/loras/{id}/config")(_guard(edit_config))
    routes.post(PREFIX + "/loras/{id}/config")(_guard(edit_config))

    @routes.get(PREFIX + "/preview/{id}")
    @_guard
    async def preview_by_id(request):
        svc = get_service()

        def find():
            for it in svc.find(request.match_info["id"]):
                if it["preview"]:
                    return confined_image(svc, it["preview"], it["root"])
            raise ApiError(404, "this LoRA has no preview image")
        return web.FileResponse(await run(find))

    @routes.get(PREFIX + "/preview")
    @_guard
    async def preview_by_path(request):
        svc = get_service()
        root = request.query.get("root")
        root = None if root is None else _int_param(root, "root")
        return web.FileResponse(await run(confined_image, svc, request.query.get("path"), root))

    # -- plans and profiles -------------------------------------------------------------------

    @routes.post(PREFIX + "/plan")
    @_guard
    async def plan(request):
        from .planning import compute
        svc = get_service()
        body = await read_json(request)
        return json_response(await run(compute, svc, body))

    @routes.get(PREFIX + "/plans")
    @_guard
    async def list_plans(request):
        svc = get_service()
        return json_response({"plans": await run(svc.plans)})

    @routes.post(PREFIX + "/plans")
    @_guard
    async def save_plan(request):
        from .planning import compute_with_inputs
        svc = get_service()
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) - {"name", "request"}:
            raise ApiError(400, "expected {\"name\", \"request\"} (the plan request to compute and keep)")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ApiError(400, "name: expected a non-empty text of at most 200 characters")

        def work():
            plan, specs, options = compute_with_inputs(svc, body.get("request"))
            return svc.save_plan(name, plan, specs, options)
        return json_response(await run(work), 201)

    @routes.get(PREFIX + "/plans/{pid}")
    @_guard
    async def load_plan(request):
        svc = get_service()
        return json_response(await run(svc.plan, request.match_info["pid"]))

    @routes.delete(PREFIX + "/plans/{pid}")
    @_guard
    async def delete_plan(request):
        svc = get_service()
        await run(svc.delete_plan, request.match_info["pid"])
        return json_response({"deleted": True})

    @routes.get(PREFIX + "/plans/{pid}/export")
    @_guard
    async def export_plan(request):
        from .planning import export
        svc = get_service()
        saved = await run(svc.plan, request.match_info["pid"])
        ctype, text = export(saved["plan"], request.query.get("format", "json"))
        return web.Response(text=text, content_type=ctype)

    @routes.get(PREFIX + "/profiles")
    @_guard
    async def list_profiles(request):
        svc = get_service()
        return json_response({"profiles": await run(svc.profiles)})

    @routes.put(PREFIX + "/profiles/{name}")
    @_guard
    async def put_profile(request):
        svc = get_service()
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"multipliers"}:
            raise ApiError(400, "expected {\"multipliers\": {\"OUT\": 0.5, \"IN4\": 0, ...}}")
        return json_response(await run(svc.put_profile, request.match_info["name"], body["multipliers"]))

    @routes.delete(PREFIX + "/profiles/{name}")
    @_guard
    async def delete_profile(request):
        svc = get_service()
        await run(svc.delete_profile, request.match_info["name"])
        return json_response({"deleted": True})

    # -- background jobs ----------------------------------------------------------------------

    @routes.post(PREFIX + "/jobs/{action}")
    @_guard
    async def start_job(request):
        svc = get_service()
        body = await read_json(request) if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object {\"root\": 0, ...}")
        options = {}
        root = body.get("root", 0)
        if isinstance(root, bool) or not isinstance(root, int):
            raise ApiError(400, "root: expected the index of a LoRA root (see /lora-atlas/settings)")
        allow = body.get("allow")
        if allow is not None:
            if not isinstance(allow, (str, list)) or (isinstance(allow, list) and not all(isinstance(a, str) for a in allow)):
                raise ApiError(400, "allow: expected \"sd1,sdxl\" or a list of architecture names")
            from ..library.operations import parse_allow
            from ..library.errors import LibraryError
            try:
                parse_allow(allow)
            except LibraryError as exc:
                raise ApiError(400, str(exc).replace("--allow", "allow")) from None
            options["allow"] = allow
        for flag in ("previews", "repair"):
            if flag in body:
                if not isinstance(body[flag], bool):
                    raise ApiError(400, f"{flag}: expected true or false")
                options[flag] = body[flag]
        unknown = sorted(set(body) - {"root", "allow", "previews", "repair"})
        if unknown:
            raise ApiError(400, f"unknown field(s) {', '.join(unknown)}")
        job = svc.start_job(request.match_info["action"], root, options)
        return json_response({"job": job}, 202)

    @routes.get(PREFIX + "/jobs")
    @_guard
    async def list_jobs(request):
        return json_response({"jobs": get_service().jobs()})

    @routes.get(PREFIX + "/jobs/{jid}")
    @_guard
    async def get_job(request):
        return json_response(get_service().job(_int_param(request.match_info["jid"], "id")))

    # -- settings -------------------------------------------------------------------------------

    @routes.get(PREFIX + "/settings")
    @_guard
    async def settings(request):
        from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, POLICIES
        from .. import __version__
        svc = get_service()
        roots = await run(svc.roots)
        return json_response({
            "version": __version__, "roots": [{"index": i, "path": r} for i, r in enumerate(roots)],
            "roots_source": getattr(svc, "roots_source", "configured"), "policies": list(POLICIES),
            "default_policy": DEFAULT_POLICY, "default_headroom": DEFAULT_HEADROOM,
            "role_order": list(DEFAULT_ROLE_ORDER), "rescan_interval": svc.rescan_interval,
            "auto_scan": svc.auto_scan, "scanning": svc.scanning})

    @routes.put(PREFIX + "/settings")
    @_guard
    async def put_settings(request):
        svc = get_service()
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) - {"rescan_interval", "auto_scan"}:
            raise ApiError(400, "settable: rescan_interval (seconds, 1..86400), auto_scan (true/false)")
        if "rescan_interval" in body:
            v = body["rescan_interval"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 86400:
                raise ApiError(400, "rescan_interval: seconds between 1 and 86400")
            svc.rescan_interval = float(v)
        if "auto_scan" in body:
            if not isinstance(body["auto_scan"], bool):
                raise ApiError(400, "auto_scan: expected true or false")
            svc.auto_scan = body["auto_scan"]
        return json_response({"rescan_interval": svc.rescan_interval, "auto_scan": svc.auto_scan})


# --- sync helpers (run on the service's threads) ---------------------------------------------

def confined_image(svc, path, root=None) -> str:
    """The real path of an image inside the LoRA roots, or ApiError."""
    from .service import IMAGE_EXTENSIONS, confine
    _, _, real = confine(svc.roots(), path, root)
    if not real.lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(real):
        raise ApiError(403, "only image files inside the LoRA roots are served")
    return real


def detail(svc, lora_id: str, want_analysis: bool = True) -> dict:
    from ..engine.inspect import inspect_file
    from ..library.config_files import ConfigUnreadable, read_config
    from ..library.queries import public
    found = svc.find(lora_id)
    item = found[0]
    path = svc.full_path(item)
    config, config_error = None, None
    if item["has_config"]:
        try:
            config = read_config(os.path.join(os.path.dirname(path), "config.yaml"))
            if isinstance(config, dict):
                config.pop("_atlas", None)
        except ConfigUnreadable as exc:
            config_error = f"config.yaml: {exc}"
    insp = inspect_file(path).to_dict()
    insp.pop("path", None)
    out = dict(public(item))
    out.update({
        "paths": [it["path"] for it in found],
        "config": config, "config_error": config_error,
        "classification": insp,
        "trigger_words": (config or {}).get("trigger_words") or insp.get("trigger_words") or [],
        "default_weight": (config or {}).get("default_weight", 1.0),
        "preview_url": f"{PREFIX}/preview/{item['id']}" if item["has_preview"] else None,
        "analysis": svc.analysis(path) if want_analysis and insp.get("ok") else None,
    })
    return out


def write_config(svc, lora_id: str, body) -> dict:
    """Change a few user fields of the LoRA's config.yaml (organize keeps them from then on)."""
    from ..library import config_files as cf
    from ..library.fs_safety import atomic_write
    if not isinstance(body, dict) or not body:
        raise ApiError(400, f"expected an object with some of {', '.join(CONFIG_FIELDS)}")
    problems = []
    for key, value in body.items():
        kind = CONFIG_FIELDS.get(key)
        if kind is None:
            problems.append(f"{key!r} cannot be edited here (editable: {', '.join(CONFIG_FIELDS)})")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -10 <= value <= 10:
                problems.append(f"{key}: expected a number between -10 and 10")
        elif kind is list:
            if not isinstance(value, list) or len(value) > 200 or not all(isinstance(v, str) and len(v) <= 200 for v in value):
                problems.append(f"{key}: expected a list of texts")
        elif not isinstance(value, str) or len(value) > 10000:
            problems.append(f"{key}: expected a text of at most 10000 characters")
    if problems:
        raise ApiError(400, "; ".join(problems))
    item = svc.find(lora_id)[0]
    path = svc.full_path(item)
    config_path = os.path.join(os.path.dirname(path), cf.CONFIG_NAME)
    try:
        config = cf.read_config(config_path) if item["has_config"] else None
    except cf.ConfigUnreadable as exc:
        raise ApiError(409, f"config.yaml: {exc}; fix it by hand first") from None
    if config is None:
        raise ApiError(409, "this LoRA has no config.yaml yet: organize the library first")
    config.update(body)
    atomic_write(config_path, cf.render(config))
    config.pop("_atlas", None)
    return {"id": lora_id, "config": config}
