"""Fixtures for the ComfyUI face: a small real library, an AtlasService on it, and the routes
mounted on a bare aiohttp application served on loopback (pytest-aiohttp's `aiohttp_client`)."""

from __future__ import annotations

import os
import sys

import pytest
from aiohttp import web

from lora_atlas.nodes import comfy_glue
from lora_atlas.nodes.routes import add_routes
from lora_atlas.nodes.service import AtlasService

from libraries import build_comfy_library as build_library   # tests/helpers, via pytest `pythonpath`


@pytest.fixture
def library(tmp_path):
    return build_library(tmp_path / "loras")


@pytest.fixture
def events():
    return []


@pytest.fixture
def service(library, events):
    svc = AtlasService([library], send=lambda event, data: events.append((event, data)), auto_scan=False)
    svc.refresh()
    comfy_glue.set_service(svc)
    yield svc
    comfy_glue.set_service(None)
    svc.close()


@pytest.fixture
async def client(aiohttp_client, service):
    app = web.Application()
    routes = web.RouteTableDef()
    add_routes(routes, service)
    app.add_routes(routes)
    return await aiohttp_client(app)
