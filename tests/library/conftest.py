"""Shared fixtures for the library tests: small real libraries in temporary folders."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from lora_atlas.demo.synthetic_loras import checkpoint_tensors, embedding_tensors, write_fixture, write_tensors

# (relative path, fixture): sparse files, headers real, weights holes; one full file with a thumbnail.
GOOD = (
    ("styles/watercolor.safetensors", "sd1_lora"),
    ("styles/ink sketch (v2).safetensors", "sdxl_lora"),
    ("characters/hero.safetensors", "sdxl_pony"),
    ("characters/Héroïne ñ 漢字.safetensors", "flux_lora"),
    ("concepts/texture.safetensors", "sd1_loha"),
    ("loose_wan.safetensors", "wan_1_3b"),
)


def tree_hashes(root) -> dict:
    """relative path -> sha256 of every file under `root`, the store folder excluded."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".lora-atlas"]
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = hashlib.sha256(fh.read()).hexdigest()
    return out


def build_library(root) -> dict:
    """A small library with good and bad files; returns tree_hashes of it."""
    os.makedirs(root, exist_ok=True)
    for seed, (rel, fixture) in enumerate(GOOD):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_fixture(fixture, path, rank=1, sparse=fixture != "sdxl_lora", seed=seed,
                      metadata={"ss_output_name": f"lora{seed}"})
    with open(os.path.join(root, "old.ckpt"), "wb") as fh:
        fh.write(b"PK\x03\x04" + b"\0" * 60)
    write_tensors(os.path.join(root, "checkpoint.safetensors"), checkpoint_tensors())
    write_tensors(os.path.join(root, "styles", "negative.safetensors"), embedding_tensors())
    open(os.path.join(root, "empty.safetensors"), "wb").close()
    with open(os.path.join(root, "styles", "watercolor.txt"), "w") as fh:     # a sidecar note
        fh.write("my notes\n")
    return tree_hashes(root)


@pytest.fixture(scope="session")
def _library_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "lib"
    build_library(str(root))
    return str(root)


@pytest.fixture
def library(tmp_path, _library_template):
    """(root, original tree hashes) of a fresh copy of the small library."""
    root = str(tmp_path / "lib")
    shutil.copytree(_library_template, root)
    return root, tree_hashes(root)


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch):
    monkeypatch.setenv("LORA_ATLAS_NOW", "2025-01-02T03:04:05Z")


@pytest.fixture
def hashes():
    """The tree_hashes helper, for tests."""
    return tree_hashes
