"""Fixtures for the graph nodes: a small real library and a server context on it, installed as
the nodes' context (what ComfyUI builds on first use)."""

from __future__ import annotations

import os
import sys

import pytest

from lora_atlas.nodes import comfy_glue
from lora_atlas.server.context import Context
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
def service(library, events):
    """The LibraryState the nodes use (comfy_glue's context)."""
    state = LibraryState([library], send=lambda event, data: events.append((event, data)), auto_scan=False)
    state.refresh()
    context = Context(state)
    comfy_glue.set_context(context)
    yield state
    comfy_glue.set_context(None)
    context.close()
