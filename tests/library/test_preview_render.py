"""library/previews/render.py without a server: which LoRAs are selected, the file names, the model
and LoRA look-ups, and the journaled writing (undo) of previews. Rendering itself is tested against
a real ComfyUI in tests/integration/test_previews_render.py; here `FixedPngClient` (tests/helpers/
preview_doubles.py) is a test double of the ComfyClient *interface* (it returns fixed PNG bytes), not
of ComfyUI, used only for writing/undo."""

from __future__ import annotations

import json
import os

import pytest

from libraries import build_comfy_library, tree_hashes   # tests/helpers
from preview_doubles import CKPT, FixedPngClient   # tests/helpers
from lora_atlas.library import config_files as cf
from lora_atlas.library import operations
from lora_atlas.library.previews import render
from lora_atlas.library.previews.client import ComfyError, HttpComfyClient, choices


@pytest.fixture
def lib(tmp_path):
    root = build_comfy_library(tmp_path / "lib")
    with open(os.path.join(root, "preview_config.json"), "w") as fh:
        json.dump({"width": 64, "height": 64, "steps": 2, "templates": {"sd1": {"checkpoint": CKPT}}}, fh)
    assert operations.organize(root, previews=False).run       # no embedded thumbnail taken: SDXL has no preview
    return root


def _by_name(report):
    return {os.path.basename(r.path): r for r in report.results}


def test_the_plan_selects_loras_without_a_preview_and_says_why_not_the_others(lib):
    before = tree_hashes(lib)
    plan = _by_name(render.plan_previews(lib))
    assert plan["hero.safetensors"].status == "planned" and CKPT in plan["hero.safetensors"].reason
    assert plan["hero.safetensors"].files == ["characters/hero/preview.png", "characters/hero/hero.preview.png"]
    assert plan["ink_xl.safetensors"].status == "planned"          # the server decides whether it has SDXL
    assert plan["watercolor.safetensors"].status == "skipped" and "--all" in plan["watercolor.safetensors"].reason
    assert "broken.safetensors" not in plan
    assert tree_hashes(lib) == before
    every = _by_name(render.plan_previews(lib, select="all"))
    assert every["watercolor.safetensors"].status == "skipped" and "--force" in every["watercolor.safetensors"].reason
    forced = _by_name(render.plan_previews(lib, select="all", force=True))
    assert forced["watercolor.safetensors"].status == "planned"
    only = render.plan_previews(lib, paths=["characters/hero/hero.safetensors", "nope.safetensors"])
    assert [r.path for r in only.results] == ["characters/hero/hero.safetensors"]
    assert any("nope.safetensors" in p for p in only.problems)


def test_a_loose_lora_gets_only_comfyuis_preview_name(tmp_path):
    t = render.Target("styles/ink.safetensors", "abc", "sd1", False, None)
    assert t.files() == ["styles/ink.preview.png"]
    own = render.Target("styles/ink/ink.safetensors", "abc", "sd1", True, None)
    assert own.files() == ["styles/ink/preview.png", "styles/ink/ink.preview.png"]
    a, b = render.filename_prefix("n1", own), render.filename_prefix("n2", own)
    assert a != b and a.startswith("lora_atlas_previews/n1/ink-")


def test_models_and_loras_are_looked_up_in_the_servers_lists():
    t = {"family": "sdxl", "checkpoint": "sd_xl_base_1.0.safetensors"}
    (msg,) = render.missing_models(t, {"checkpoints": [CKPT]}, "http://h:1")
    assert "templates.sdxl.checkpoint" in msg and CKPT in msg and "http://h:1" in msg and "models/checkpoints" in msg
    assert render.missing_models({"family": "sd1", "checkpoint": CKPT}, {"checkpoints": [CKPT]}, "s") == []
    target = render.Target("characters/hero/hero.safetensors", "x", "sd1", True, None)
    assert render.server_lora_name(target, ["characters\\hero\\hero.safetensors"]) == "characters\\hero\\hero.safetensors"
    assert render.server_lora_name(target, ["other/Hero.safetensors"]) == "other/Hero.safetensors"
    assert render.server_lora_name(target, ["a/hero.safetensors", "b/hero.safetensors"]) is None
    # names differ: the server's own LoRA Atlas knows the same file (same stable id) under another name
    renamed = ["loras/people/the-hero-v2.safetensors", "other.safetensors"]
    assert render.server_lora_name(target, renamed, {"x": ["people/the-hero-v2.safetensors"]}) == renamed[0]
    assert render.server_lora_name(target, renamed, {"y": ["people/the-hero-v2.safetensors"]}) is None
    assert choices({"N": {"input": {"required": {"x": ["COMBO", {"options": ["a"]}]}}}}, "N", "x") == ["a"]


def test_written_previews_are_journaled_and_undo_removes_them(lib):
    organized = tree_hashes(lib)
    client = FixedPngClient(loras=["characters/hero.safetensors", "concepts/texture.safetensors"])
    report = render.render_previews(lib, [client])
    got = _by_name(report)
    assert got["hero.safetensors"].status == "ok" and got["texture.safetensors"].status == "ok"
    assert got["ink_xl.safetensors"].status == "failed" and "templates.sdxl.checkpoint" in got["ink_xl.safetensors"].reason
    assert report.failed and report.run
    with open(os.path.join(lib, "characters/hero/preview.png"), "rb") as fh:
        assert fh.read() == client.png
    config = cf.read_config(os.path.join(lib, "characters/hero/config.yaml"))
    assert config["preview_image"] == "preview.png" and config["preview_render"]["lora_name"] == "characters/hero.safetensors"
    with open(os.path.join(lib, "index.json")) as fh:
        index = {e["filename"]: e for e in json.load(fh).values()}
    assert index["hero.safetensors"]["has_preview"]
    # organize afterwards keeps what previews wrote (preview_image stays the tool's own value)
    again = operations.organize(lib, previews=False)
    assert cf.read_config(os.path.join(lib, "characters/hero/config.yaml"))["preview_image"] == "preview.png"
    if again.run:
        operations.undo(lib)
    assert operations.undo(lib).kind == "previews"
    assert tree_hashes(lib) == organized


def test_a_forced_render_keeps_the_users_preview_in_the_journal(lib):
    organized = tree_hashes(lib)
    client = FixedPngClient(loras=["styles/watercolor.safetensors"])
    report = render.render_previews(lib, [client], select="all")
    assert _by_name(report)["watercolor.safetensors"].status == "skipped"
    report = render.render_previews(lib, [client], select="all", force=True)
    assert _by_name(report)["watercolor.safetensors"].status == "ok"
    with open(os.path.join(lib, "styles/watercolor/watercolor.preview.png"), "rb") as fh:
        assert fh.read() == client.png
    operations.undo(lib)
    assert tree_hashes(lib) == organized                 # the user's 1x1 preview is back


def test_an_unreachable_server_fails_every_lora_with_its_name(lib):
    report = render.render_previews(lib, [HttpComfyClient("http://127.0.0.1:9")], timeout=5)
    failed = [r for r in report.results if r.status == "failed"]
    assert failed and all("127.0.0.1:9" in r.reason and "unreachable" in r.reason for r in failed)
    assert report.run is None
    with pytest.raises(ComfyError):
        HttpComfyClient("ftp://x")


def test_the_cli_without_a_server_says_what_it_would_render_and_how(lib, capsys):
    from lora_atlas.cli import main
    assert main(["previews", lib]) == 0
    out = capsys.readouterr().out
    assert "planned  characters/hero/hero.safetensors" in out and "--server http://" in out
    assert main(["previews", lib, "--server", "http://127.0.0.1:9", "--timeout", "5"]) == 1
    assert "unreachable" in capsys.readouterr().out
