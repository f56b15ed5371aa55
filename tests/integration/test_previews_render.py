"""`lora-atlas previews DIR --server URL` against a real ComfyUI (COMFYUI_DIR; 0.3.64 and 0.33.0).

The library is a fresh copy of the `comfy_server` fixture's LoRAs (same files, so the server lists them
by name), organized first, with a preview_config.json for 64×64 in 2 steps on the fixture's random
SD1.5 checkpoint. The SD1 LoRAs get preview.png + <stem>.preview.png (valid 64×64 PNGs), config.yaml
and index.json follow; the SDXL LoRA fails with the setting to change (the server has no SDXL model);
a re-render of the same graphs still writes files; `undo` puts the library back exactly."""

from __future__ import annotations

import json
import os
import struct

import pytest

from libraries import build_comfy_library, tree_hashes   # tests/helpers, via pytest `pythonpath`
from lora_atlas.cli import main
from lora_atlas.library import config_files as cf

pytestmark = pytest.mark.integration

CKPT = "sd15_random.safetensors"


def _png_size(path) -> tuple:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def library(comfy_server, tmp_path, capsys):
    root = build_comfy_library(tmp_path / "lib")
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    code, out, err = _cli(capsys, "organize", root, "--no-preview")     # the SDXL LoRA keeps no thumbnail
    assert code == 0, (out, err)
    return root


def _index(root) -> dict:
    with open(os.path.join(root, "index.json")) as fh:
        return {e["filename"]: e for e in json.load(fh).values()}


def test_previews_render_on_a_remote_server_and_undo_removes_them(comfy_server, library, capsys):
    root = library
    organized = tree_hashes(root)
    before = _index(root)
    assert not before["hero.safetensors"]["has_preview"] and before["watercolor.safetensors"]["has_preview"]

    code, out, err = _cli(capsys, "previews", root)                     # no server: the plan and how to run it
    assert code == 0, err
    assert "planned" in out and "--server" in out
    assert tree_hashes(root) == organized

    code, out, err = _cli(capsys, "previews", root, "--server", comfy_server["url"], "--json")
    doc = json.loads(out)
    assert code == 1, (out, err)                                        # the SDXL LoRA failed
    results = {os.path.basename(r["path"]): r for r in doc["results"]}
    for name in ("hero.safetensors", "texture.safetensors"):
        assert results[name]["status"] == "ok", results[name]
        folder = before[name]["folder"]
        stem = name.rsplit(".", 1)[0]
        for f in ("preview.png", f"{stem}.preview.png"):
            assert f"{folder}/{f}" in results[name]["files"]
            assert _png_size(os.path.join(root, folder, f)) == (64, 64)
        config = cf.read_config(os.path.join(root, folder, "config.yaml"))
        assert config["preview_image"] == "preview.png"
        assert config["preview_render"]["steps"] == 2 and config["preview_render"]["prompt"]
        assert config["preview_render"]["server"] == comfy_server["url"]
    ink = results["ink_xl.safetensors"]
    assert ink["status"] == "failed"
    assert "templates.sdxl.checkpoint" in ink["reason"] and comfy_server["url"] in ink["reason"], ink
    assert results["watercolor.safetensors"]["status"] == "skipped"  # it has the preview its user placed
    after = _index(root)
    assert after["hero.safetensors"]["has_preview"] and after["texture.safetensors"]["has_preview"]
    assert not after["ink_xl.safetensors"]["has_preview"]
    first = tree_hashes(root)

    # --all re-renders what LoRA Atlas rendered (ComfyUI's cache of the same graph still gives a file),
    # never the preview the user placed.
    code, out, err = _cli(capsys, "previews", root, "--server", comfy_server["url"], "--all", "--json")
    results = {os.path.basename(r["path"]): r for r in json.loads(out)["results"]}
    assert code == 1 and results["hero.safetensors"]["status"] == "ok", results
    assert results["watercolor.safetensors"]["status"] == "skipped"
    assert "--force" in results["watercolor.safetensors"]["reason"]
    hero_png = os.path.join(root, before["hero.safetensors"]["folder"], "preview.png")
    assert _png_size(hero_png) == (64, 64)

    for _ in range(2):
        code, out, err = _cli(capsys, "undo", root)
        assert code == 0, (out, err)
    assert tree_hashes(root) == organized
    assert first != organized


def test_an_unreachable_server_is_reported_per_lora(library, capsys):
    code, out, err = _cli(capsys, "previews", library, "--server", "http://127.0.0.1:9", "--json")
    doc = json.loads(out)
    assert code == 1
    failed = [r for r in doc["results"] if r["status"] == "failed"]
    assert failed and all("unreachable" in r["reason"] and "127.0.0.1:9" in r["reason"] for r in failed)
    assert doc["run"] is None
