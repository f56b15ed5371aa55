"""The panel's API module (web/panel/api.js) mirrors the route table (server/routes.py): every
route the server has is in the module's ROUTES and nothing else, every call the module makes
names one of them, the event names are the server's, and the panel's modules other than the
serve entry have no side effects at import (ComfyUI imports every .js under web/)."""

from __future__ import annotations

import os
import re

from lora_atlas.server.events import EVENT_JOB, EVENT_LIBRARY, EVENT_PREVIEW
from lora_atlas.server.routes import ROUTES

WEB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "web")
API_JS = os.path.join(WEB, "panel", "api.js")


def _source() -> str:
    with open(API_JS, encoding="utf-8") as fh:
        return fh.read()


def _js_routes() -> list:
    block = re.search(r"export const ROUTES = \[(.*?)\n\];", _source(), re.S).group(1)
    return re.findall(r'\["(GET|POST|PUT|PATCH|DELETE)", "([^"]+)"\]', block)


def test_api_js_routes_are_the_route_table():
    assert _js_routes() == [(method, path) for method, path, _ in ROUTES]


def test_every_call_names_a_route_of_the_table():
    calls = re.findall(r'(?:call|routeUrl)\((?:apiBase, )?"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)"', _source())
    assert len(calls) >= 18
    table = {(method, path) for method, path, _ in ROUTES}
    assert sorted(set(calls) - table) == []


def test_event_names_are_the_servers():
    src = _source()
    for name, value in (("EVENT_JOB", EVENT_JOB), ("EVENT_LIBRARY", EVENT_LIBRARY), ("EVENT_PREVIEW", EVENT_PREVIEW)):
        assert f'export const {name} = "{value}";' in src


def test_panel_modules_only_export():
    """Top-level statements of web/panel/*.js are imports, exports, declarations and comments."""
    allowed = re.compile(r"^(import |export |const |function |class |//|/\*|\*|$|\}|\]|\s)")
    for name in sorted(os.listdir(os.path.join(WEB, "panel"))):
        if not name.endswith(".js"):
            continue
        with open(os.path.join(WEB, "panel", name), encoding="utf-8") as fh:
            text = re.sub(r"`[^`]*`", "``", fh.read())          # template texts (the CSS) are data
        bad = [line for line in text.splitlines() if not allowed.match(line)]
        assert bad == [], f"{name} runs code at import: {bad[:3]}"


def test_no_url_outside_api_js():
    """One module owns every URL: the other panel modules never write '/lora-atlas' themselves."""
    for name in sorted(os.listdir(os.path.join(WEB, "panel"))):
        if name.endswith(".js") and name != "api.js":
            with open(os.path.join(WEB, "panel", name), encoding="utf-8") as fh:
                text = fh.read()
            assert "/lora-atlas" not in text.replace('apiBase: "/lora-atlas"', "").replace(
                'host.apiBase || "/lora-atlas"', ""), name
