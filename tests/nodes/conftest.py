"""Fixtures for the graph nodes: the shared server context (tests/conftest.py) installed as the
nodes' context, which is what ComfyUI builds on first use."""

from __future__ import annotations

import pytest

from lora_atlas.nodes import comfy_glue


@pytest.fixture
def library(comfy_library):
    return comfy_library


@pytest.fixture
def service(server_context):
    """The LibraryState the nodes use (comfy_glue's context)."""
    comfy_glue.set_context(server_context)
    yield server_context.state
    comfy_glue.set_context(None)
