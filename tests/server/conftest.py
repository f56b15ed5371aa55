"""Fixtures for the HTTP face: the shared server context (tests/conftest.py) with the route table
mounted on a bare aiohttp application served on loopback (pytest-aiohttp's `aiohttp_client`)."""

from __future__ import annotations

import pytest
from aiohttp import web

from lora_atlas.server.routes import add_routes


@pytest.fixture
def library(comfy_library):
    return comfy_library


@pytest.fixture
def ctx(server_context):
    return server_context


@pytest.fixture
async def client(aiohttp_client, ctx):
    app = web.Application()
    routes = web.RouteTableDef()
    add_routes(routes, ctx)
    app.add_routes(routes)
    return await aiohttp_client(app)
