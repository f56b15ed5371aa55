"""Shared fixtures: realistic LoRA files written once per test session by the project's builder."""

from __future__ import annotations

import pytest

from lora_atlas.demo.synthetic_loras import write_fixture


@pytest.fixture(scope="session")
def lora_files(tmp_path_factory):
    """name -> path of a sparse (header-real, weights-hole) file for every named fixture; built lazily."""
    root = tmp_path_factory.mktemp("loras")
    cache: dict = {}

    def get(name: str, **kw) -> str:
        key = (name, tuple(sorted(kw.items())))
        if key not in cache:
            path = root / f"{name}_{len(cache)}.safetensors"
            cache[key] = write_fixture(name, str(path), sparse=kw.pop("sparse", True), **kw)
        return cache[key]

    return get
