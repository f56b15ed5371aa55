"""What every handler shares: the JSON envelope, body reading with a size bound, query integers,
`guard`, which turns a refused request into `{"error": message}` with its status, and
`check_request`, the one place that refuses requests a web page could forge (see `RequestPolicy`)."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from .errors import KNOWN_ERRORS, ApiError, status_of

PREFIX = "/lora-atlas"
MAX_BODY = 1 << 20                       # 1 MiB: plans and config edits are small
MAX_DEPTH = 64                           # nesting of a JSON body: requests are a few levels deep
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger("lora_atlas")

try:
    import orjson

    def dumps(doc) -> bytes:
        try:
            return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:                # e.g. an integer past 64 bits in a hand-edited config.yaml
            return json.dumps(doc, default=str).encode()
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
    """The request's JSON body (any JSON value), with 413 past `limit` and 400 when malformed.

    The whole body is read, however it arrives (in several TCP segments, chunked): one `read()`
    returns only what has arrived so far and would cut a valid body in two. Deep nesting and lone
    surrogates are refused here (400), before a handler fails on them with a 500."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body too large: at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body too large: at most {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "expected a JSON body")
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ApiError(400, f"body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON ({exc})") from None
    _check_document(doc)
    return doc


def _check_document(doc) -> None:
    """ApiError(400) for a body nested deeper than MAX_DEPTH or holding a text that is not valid
    Unicode (a lone surrogate such as \\ud800 cannot be written to a file or the store)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            values = ()
            texts = (value,)
        elif isinstance(value, dict):
            values, texts = value.values(), value.keys()
        elif isinstance(value, list):
            values, texts = value, ()
        else:
            continue
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(400, "body holds a text that is not valid Unicode (a lone surrogate such as "
                                    "\\ud800)") from None
        if values and depth >= MAX_DEPTH:
            raise ApiError(400, f"body is nested too deeply (at most {MAX_DEPTH} levels)")
        stack.extend((v, depth + 1) for v in values)


def int_param(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400 if name != "id" else 404, f"{name}: expected a whole number, got {value!r}") from None


# -- what a web page could forge ----------------------------------------------------------------

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class RequestPolicy:
    """Which requests `check_request` refuses. The routes can move files and have no authentication,
    so anything a foreign web page can make a browser send is refused:

    - `loopback_host`: a Host that is not a loopback name (127.0.0.1 and the rest of 127/8, ::1,
      localhost; any port) is refused: a page that rebinds its own DNS name to 127.0.0.1 (DNS
      rebinding) sends its own name as Host, and would otherwise read /settings and drive jobs.
      ComfyUI listening on another address by the user's choice turns it off (nodes/comfy_glue.py);
      `allowed_hosts` names more hosts to accept (a reverse proxy's).
    - always: a request that says `Sec-Fetch-Site: cross-site`, or whose Origin does not match its
      Host (unless the browser says `Sec-Fetch-Site: same-origin`, which stays true behind a proxy
      that rewrites Host), is refused; browsers add both headers and pages cannot change them.
      `allowed_origin` (ComfyUI's `--enable-cors-header`, "*" for any) is let through.
    - always: a state-changing request (POST, PUT, PATCH, DELETE) with a body must say
      `Content-Type: application/json` (415), which a page can only send after a CORS preflight
      that these routes never grant; `text/plain` and form posts need no preflight.
    """
    loopback_host: bool = True
    allowed_origin: str | None = None
    allowed_hosts: tuple = ()


LOOPBACK_ONLY = RequestPolicy()


def is_loopback_name(name: str | None) -> bool:
    """A literal loopback address or `localhost`: never a DNS name, which an attacker can rebind."""
    if not name:
        return False
    name = name.rstrip(".").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _site(netloc: str, scheme: str):
    """(host name, port) of `netloc`, the port defaulting to the scheme's; None when unparsable."""
    try:
        parts = urlsplit("//" + netloc)
        return (parts.hostname or "").rstrip("."), parts.port or {"https": 443, "wss": 443}.get(scheme, 80)
    except ValueError:
        return None


def _same_origin(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False                     # "null" (sandboxed frames, file://) and anything odd
    mine = _site(host, parts.scheme)
    return mine is not None and mine[0] != "" and mine == _site(parts.netloc, parts.scheme)


def check_request(request, policy: RequestPolicy = LOOPBACK_ONLY) -> None:
    """ApiError (403, 413 or 415) for a request that `policy` refuses; see RequestPolicy."""
    host = request.headers.get("Host") or request.host
    name = (_site(host, "http") or ("",))[0].lower()
    if policy.loopback_host and not is_loopback_name(name) and name not in policy.allowed_hosts:
        raise ApiError(403, f"refused: Host {host!r} is not a loopback name (DNS rebinding?); "
                            "use http://127.0.0.1:PORT/")
    origin = request.headers.get("Origin")
    allowed = policy.allowed_origin is not None and origin is not None and policy.allowed_origin in ("*", origin)
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if not allowed:
        if fetch_site == "cross-site":
            raise ApiError(403, "refused: a cross-site request (another web page cannot use these routes)")
        # the browser's own "same-origin" stands even when a proxy rewrote Host
        if origin is not None and fetch_site != "same-origin" and not _same_origin(origin, host):
            raise ApiError(403, f"refused: Origin {origin!r} does not match Host {host!r} "
                                "(another web page cannot use these routes)")
    if request.method in STATE_CHANGING and request.body_exists:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(413, f"body too large: at most {MAX_BODY} bytes")
        if request.content_type != "application/json":
            raise ApiError(415, f"expected Content-Type: application/json, got {request.content_type!r}")
