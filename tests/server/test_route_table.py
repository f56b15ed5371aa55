"""The route table is the one list of routes: every route in it answers on a real server, and
every route the README documents is in it (the panel's API module will mirror the same table)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import pytest

from lora_atlas.server.http import PREFIX
from lora_atlas.server.routes import ROUTES, handler_of

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")
SAMPLE = {"{id}": "no-such-id", "{pid}": "no-such-plan", "{hid}": "999", "{name}": "no-such-name",
          "{action}": "scan", "{jid}": "999"}


def _documented() -> set:
    """(METHOD, path) pairs of the README's route table: rows that start with `METHOD[|METHOD] /lora-atlas/...`."""
    found = set()
    for line in open(README, encoding="utf-8"):
        m = re.match(r"^\| `([A-Z\\|]+) (/lora-atlas[^`?]*)", line)
        if not m:
            continue
        path = re.sub(r"\{[a-z]+(\\\|[a-z]+)+\}", "{action}", m.group(2))      # {scan\|check\|...}
        for method in m.group(1).split("\\|"):
            found.add((method, path))
    return found


def _table() -> set:
    return {(method, PREFIX + path) for method, path, _ in ROUTES}


def test_every_documented_route_is_in_the_table():
    documented = _documented()
    assert len(documented) >= 20
    normalized = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in _table()}
    missing = sorted((m, p) for m, p in documented if (m, re.sub(r"\{[^}]+\}", "{}", p)) not in normalized)
    assert not missing, f"documented in README.md but not in server/routes.ROUTES: {missing}"


def test_every_table_route_is_documented():
    documented = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in _documented()}
    undocumented = sorted((m, p) for m, p in _table() if (m, re.sub(r"\{[^}]+\}", "{}", p)) not in documented)
    assert not undocumented, f"in server/routes.ROUTES but not in README.md's route table: {undocumented}"


@pytest.mark.asyncio
@pytest.mark.parametrize("method, path", [(m, p) for m, p, _ in ROUTES])
async def test_every_route_in_the_table_answers(client, method, path):
    url = PREFIX + path
    for key, value in SAMPLE.items():
        url = url.replace(key, value)
    resp = await client.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
    assert resp.status != 405, f"{method} {url}: aiohttp has no such route"
    if resp.status == 404:
        doc = await resp.json()
        assert set(doc) == {"error"}, f"{method} {url}: a 404 that is not ours: {doc}"
    else:
        assert resp.status < 500, await resp.text()


def test_every_table_entry_names_an_async_handler():
    for method, path, target in ROUTES:
        assert inspect.iscoroutinefunction(handler_of(target)), (method, path, target)


def test_attaching_the_table_imports_no_handler_module():
    """ComfyUI attaches the routes at start-up: that must not import the planner, the analysis or
    the library (they load on the first request). A fresh interpreter shows what an import pulls in."""
    script = (
        "import sys\n"
        "from aiohttp import web\n"
        "from lora_atlas.server.routes import add_routes\n"
        "add_routes(web.RouteTableDef(), lambda: None)\n"
        "heavy = ('lora_atlas.server.job_routes', 'lora_atlas.server.lora_routes', 'lora_atlas.server.plan_routes',\n"
        "         'lora_atlas.engine.planner', 'lora_atlas.engine.analysis', 'lora_atlas.library.store',\n"
        "         'lora_atlas.library.config_files')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
