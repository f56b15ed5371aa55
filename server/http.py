"""What every handler shares: the JSON envelope, body reading with a size bound, query integers,
and `guard`, which turns a refused request into `{"error": message}` with its status."""

from __future__ import annotations

import functools
import json
import logging

from aiohttp import web

from .errors import KNOWN_ERRORS, ApiError, status_of

PREFIX = "/lora-atlas"
MAX_BODY = 1 << 20                       # 1 MiB: plans and config edits are small
log = logging.getLogger("lora_atlas")

try:
    import orjson

    def dumps(doc) -> bytes:
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
except ImportError:  # pragma: no cover - orjson is a dependency
    def dumps(doc) -> bytes:
        return json.dumps(doc).encode()


def json_response(doc, status: int = 200) -> web.Response:
    return web.Response(body=dumps(doc), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def guard(fn):
    """A handler whose refusals (ApiError, library and planner errors) become the error envelope;
    anything else is a bug: logged, and answered 500 without a traceback."""
    @functools.wraps(fn)
    async def handler(request, *args):
        try:
            return await fn(request, *args)
        except KNOWN_ERRORS as exc:
            return error_response(status_of(exc), str(exc))
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


def int_param(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400 if name != "id" else 404, f"{name}: expected a whole number, got {value!r}") from None
