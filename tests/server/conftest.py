"""Fixtures for the HTTP face: a small real library, a server state and job runner on it, and the
route table mounted on a bare aiohttp application served on loopback (pytest-aiohttp's
`aiohttp_client`)."""

from __future__ import annotations

import os
import sys

import pytest
from aiohttp import web

from lora_atlas.server.context import Context
from lora_atlas.server.routes import add_routes
from lora_atlas.server.state import LibraryState

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from library_fixture import build_library  # noqa: E402


@pytest.fixture
def library(tmp_path):
    return build_library(tmp_path / "loras")


@pytest.fixture
def events():
    return []


@pytest.fixture
def ctx(library, events):
    state = LibraryState([library], send=lambda event, data: events.append((event, data)), auto_scan=False)
    state.refresh()
    context = Context(state)
    yield context
    context.close()


@pytest.fixture
async def client(aiohttp_client, ctx):
    app = web.Application()
    routes = web.RouteTableDef()
    add_routes(routes, ctx)
    app.add_routes(routes)
    return await aiohttp_client(app)
