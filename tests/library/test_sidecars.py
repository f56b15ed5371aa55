"""Sidecars other tools wrote (ComfyUI-Lora-Manager, A1111/Forge, Civitai Helper, rgthree): organize
carries them, their facts become config.yaml defaults with their sources, undo restores the tree."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from lora_atlas.library import operations, sidecars

MOVED = {
    "styles/lm-style": ["lm_style.metadata.json", "lm_style.preview.png", "lm_style.safetensors"],
    "styles/lm-style.extra": ["lm_style.extra.preview.png", "lm_style.extra.safetensors"],
    "characters/a1": ["A1.txt", "a1.json", "a1.safetensors"],
    "concepts/ch": ["ch.civitai.info", "ch.safetensors", "ch.webp"],
    "rg": ["rg.preview.mp4", "rg.rgthree-info.json", "rg.safetensors"],
    "styles/broken": ["broken.metadata.json", "broken.safetensors"],
}


@pytest.fixture
def sidecar_library(library_copy, hashes):
    root = str(library_copy("sidecars"))
    return root, hashes(root)


def _config(root, folder):
    with open(os.path.join(root, folder, "config.yaml"), "rb") as fh:
        return yaml.safe_load(fh)


def test_organize_carries_every_sidecar_and_undo_restores_the_tree(sidecar_library, hashes):
    root, before = sidecar_library
    result = operations.organize(root)
    assert result.run == 1 and not [i for i in result.plan.items if i.failed]
    for folder, names in MOVED.items():
        assert sorted(n for n in os.listdir(os.path.join(root, folder)) if n != "config.yaml") == names, folder
    expected = {f"{folder}/{n}" for folder, names in MOVED.items() for n in names + ["config.yaml"]}
    assert set(hashes(root)) == expected | {"index.json", "preview_config.json"}     # nothing stayed behind
    operations.undo(root)
    assert hashes(root) == before


def test_sidecar_facts_become_defaults_with_their_sources(sidecar_library):
    root, _ = sidecar_library
    operations.organize(root)
    lm = _config(root, "styles/lm-style")
    assert lm["default_weight"] == 0.8 and lm["trigger_words"] == ["lmword", "glow"]
    assert lm["base_model_hint"] == "illustrious" and lm["notes"] == "glowing lines"
    assert lm["civitai_url"] == "https://civitai.com/models/111?modelVersionId=222"
    assert (lm["civitai_model_id"], lm["civitai_version_id"], lm["nsfw_level"]) == (111, 222, 4)
    assert lm["tags"] == ["style", "glow"] and lm["preview_image"] == "lm_style.preview.png"
    assert lm["_atlas"]["sources"]["default_weight"] == "lm_style.metadata.json"
    assert lm["_atlas"]["sources"]["base_model_hint"] == "lm_style.metadata.json"
    a1 = _config(root, "characters/a1")
    assert a1["default_weight"] == 0.6 and a1["trigger_words"] == ["a1word", "red hair"]
    assert a1["notes"] == "from forge" and a1["_atlas"]["sources"]["trigger_words"] == "a1.json"
    ch = _config(root, "concepts/ch")
    assert ch["architecture"] == "sd1" and ch["base_model_hint"] is None      # the tensors win
    assert ch["nsfw"] is True and ch["preview_image"] == "ch.webp" and ch["civitai_model_id"] == 333
    assert ch["_atlas"]["sources"]["civitai_url"] == "ch.civitai.info"
    rg = _config(root, "rg")
    assert rg["base_model_hint"] == "pony" and rg["trigger_words"] == ["rgword", "pose"]
    assert rg["preview_video"] == "rg.preview.mp4" and rg["notes"] == "my rgthree note"
    assert rg["civitai_url"] == "https://civitai.com/models/555?modelVersionId=666"
    assert "sources" not in _config(root, "styles/broken")["_atlas"]

def test_second_organize_changes_nothing_and_still_reports(sidecar_library, hashes):
    root, _ = sidecar_library
    operations.organize(root)
    snapshot = hashes(root)
    again = operations.organize(root)
    assert again.run is None and again.plan.items == [] and hashes(root) == snapshot
    assert any("the tensors win" in p for p in again.problems)       # the conflict is still said


def test_conflicts_and_malformed_sidecars_are_reported_not_fatal(sidecar_library):
    root, _ = sidecar_library
    problems = "\n".join(operations.organize(root).problems)
    assert "styles/broken.safetensors: broken.metadata.json: not valid JSON" in problems
    assert "ch.civitai.info says 'SDXL 1.0' but the tensors are sd1; the tensors win" in problems
    assert "rg.rgthree-info.json says 'Illustrious' but the file's own metadata says pony" in problems
    assert os.path.exists(os.path.join(root, "styles/broken/config.yaml"))


def test_a_field_the_user_edited_survives_a_changed_sidecar(sidecar_library):
    root, _ = sidecar_library
    operations.organize(root)
    path = os.path.join(root, "styles/lm-style/config.yaml")
    text = open(path, encoding="utf-8").read().replace("default_weight: 0.8", "default_weight: 0.5")
    open(path, "w", encoding="utf-8").write(text)
    meta = os.path.join(root, "styles/lm-style/lm_style.metadata.json")
    doc = json.load(open(meta))
    doc["usage_tips"], doc["notes"] = json.dumps({"strength": 0.9}), "new notes"
    json.dump(doc, open(meta, "w"))
    operations.organize(root)
    cfg = _config(root, "styles/lm-style")
    assert cfg["default_weight"] == 0.5            # the person's value
    assert cfg["notes"] == "new notes"             # still the tool's: follows the sidecar


def test_sidecar_readers_are_defensive(tmp_path):
    (tmp_path / "x.metadata.json").write_text(json.dumps({"civitai": "nope", "usage_tips": "{bad", "tags": 3}))
    (tmp_path / "x.json").write_text(json.dumps({"some": "other tool"}))
    (tmp_path / "x.civitai.info").write_text("[1, 2]")
    (tmp_path / "x.rgthree-info.json").write_bytes(b" " * (sidecars.MAX_BYTES + 1))
    found = sidecars.read_sidecars(str(tmp_path), "x")
    assert found.facts == [] and len(found.problems) == 2
    assert any("not a JSON object" in p for p in found.problems) and any("larger than" in p for p in found.problems)


def test_import_metadata_shows_what_it_would_set_and_changes_nothing(sidecar_library, run_cli, hashes):
    root, before = sidecar_library
    code, out, _ = run_cli("import-metadata", root, "--json")
    assert code == 0 and hashes(root) == before
    doc = {os.path.relpath(r["path"], root): r for r in json.loads(out)}
    lm = doc["styles/lm_style.safetensors"]["would_set"]
    assert lm["default_weight"] == {"value": 0.8, "source": "lm_style.metadata.json", "kept": False}
    assert doc["styles/broken.safetensors"]["problems"]
    code, out, _ = run_cli("import-metadata", root)
    assert code == 0 and "civitai_url" in out and "nothing was changed" in out and "problems:" in out
    assert hashes(root) == before


def test_sidecars_of_a_stem_in_another_case_only_when_unambiguous(tmp_path):
    from lora_atlas.library.sidecars import sidecar_files as _sidecars
    for name in ("a.safetensors", "a.b.safetensors", "A.NOTES.txt", "a.b.png", "a.anything", "a.dir", "config.yaml"):
        (tmp_path / name).mkdir() if name == "a.dir" else (tmp_path / name).write_bytes(b"x")
    assert _sidecars(str(tmp_path), "", "a", {}) == ["A.NOTES.txt", "a.anything"]
    assert _sidecars(str(tmp_path), "", "a.b", {}) == ["a.b.png"]
    (tmp_path / "A.safetensors").write_bytes(b"x")                     # now "a" in another case is ambiguous
    assert _sidecars(str(tmp_path), "", "a", {}) == ["a.anything"]


def test_the_detail_gives_the_civitai_link_and_nsfw_level(sidecar_library):
    from lora_atlas.library.lora_details import lora_detail
    from lora_atlas.server.state import LibraryState
    root, _ = sidecar_library
    operations.organize(root)
    state = LibraryState([root], auto_scan=False)
    try:
        state.refresh()
        by_name = {os.path.basename(it["path"]): it for it in state.items()}
        lm = lora_detail(root, by_name["lm_style.safetensors"], [], want_analysis=False)
        assert lm["civitai_url"] == "https://civitai.com/models/111?modelVersionId=222"
        assert (lm["nsfw_level"], lm["nsfw"]) == (4, False)
        plain = lora_detail(root, by_name["lm_style.extra.safetensors"], [], want_analysis=False)
        assert (plain["civitai_url"], plain["nsfw_level"], plain["nsfw"]) == (None, None, None)
    finally:
        state.close()


@pytest.fixture
def sidecar_context(sidecar_library):
    from lora_atlas.server.context import Context
    from lora_atlas.server.state import LibraryState
    root, _ = sidecar_library
    operations.organize(root)
    state = LibraryState([root], auto_scan=False)
    state.refresh()
    context = Context(state)
    yield context
    context.close()


async def test_the_listing_gives_the_civitai_link_and_nsfw_level(sidecar_context, aiohttp_client):
    """The panel blurs from the listing: each item carries what its config.yaml imported."""
    from aiohttp import web
    from lora_atlas.server.routes import add_routes
    routes = web.RouteTableDef()
    add_routes(routes, sidecar_context)
    app = web.Application()
    app.add_routes(routes)
    client = await aiohttp_client(app)
    items = {os.path.basename(it["path"]): it for it in (await (await client.get("/lora-atlas/loras?limit=500")).json())["items"]}
    lm, ch, plain = items["lm_style.safetensors"], items["ch.safetensors"], items["lm_style.extra.safetensors"]
    assert (lm["civitai_url"], lm["nsfw_level"], lm["nsfw"]) == ("https://civitai.com/models/111?modelVersionId=222", 4, False)
    assert ch["nsfw"] is True and ch["civitai_url"].startswith("https://civitai.com/models/")
    assert (plain["civitai_url"], plain["nsfw_level"], plain["nsfw"]) == (None, None, None)


def test_a_config_linked_from_outside_the_root_is_not_read_for_the_listing(sidecar_library, tmp_path):
    from lora_atlas.server.state import LibraryState
    root, _ = sidecar_library
    operations.organize(root)
    outside = tmp_path / "outside.yaml"
    outside.write_text("civitai_url: https://civitai.com/models/9\nnsfw: true\n")
    cfg = os.path.join(root, "styles", "lm-style", "config.yaml")
    os.remove(cfg)
    os.symlink(outside, cfg)
    state = LibraryState([root], auto_scan=False)
    try:
        state.refresh()
        lm = next(it for it in state.items() if it["path"].endswith("/lm_style.safetensors"))
        assert (lm["civitai_url"], lm["nsfw"]) == (None, None)
    finally:
        state.close()


def test_the_browser_outputs_the_civitai_link_and_nsfw_level(sidecar_context):
    pytest.importorskip("torch", reason="the Browser node's module builds image tensors (torch, as in ComfyUI)")
    from lora_atlas.nodes import comfy_glue
    from lora_atlas.nodes.browser import LoraAtlasBrowser
    comfy_glue.set_context(sidecar_context)
    try:
        info = json.loads(LoraAtlasBrowser().browse("lm_style.safetensors", "any", "", "any", "path", 0)[3])
    finally:
        comfy_glue.set_context(None)
    assert (info["civitai_url"], info["nsfw_level"], info["nsfw"]) == ("https://civitai.com/models/111?modelVersionId=222", 4, False)


def _standin_ffmpeg(bin_dir, frame: bytes):
    """An `ffmpeg` on PATH that answers as ffmpeg does for one frame (this machine has no ffmpeg;
    test_a_real_ffmpeg_gives_the_first_frame runs the real one where it is installed)."""
    import stat
    import sys
    bin_dir.mkdir()
    script = bin_dir / "ffmpeg"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "src = args[args.index('-i') + 1]\n"
        "assert src.startswith('file:') and args[args.index('-frames:v') + 1] == '1' and args[-1] == 'pipe:1'\n"
        "open(src[5:], 'rb').read(1)\n"
        f"sys.stdout.buffer.write({frame!r})\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


def test_a_video_preview_gives_its_first_frame_as_the_still(sidecar_library, tmp_path, monkeypatch, hashes):
    from libraries import PNG_1x1   # tests/helpers
    root, before = sidecar_library
    monkeypatch.setenv("PATH", _standin_ffmpeg(tmp_path / "bin", PNG_1x1))
    result = operations.organize(root)
    rg = os.path.join(root, "rg")
    assert sorted(os.listdir(rg)) == ["config.yaml", "preview.png", "rg.preview.mp4", "rg.preview.png",
                                      "rg.rgthree-info.json", "rg.safetensors"]
    with open(os.path.join(rg, "rg.preview.png"), "rb") as fh:
        assert fh.read() == PNG_1x1
    assert _config(root, "rg")["preview_image"] == "preview.png"
    assert not [p for p in result.plan.problems if "rg.preview.mp4" in p]
    operations.undo(root)
    assert hashes(root) == before


def test_without_ffmpeg_a_video_preview_is_kept_and_the_reason_given(sidecar_library, tmp_path, monkeypatch):
    root, _ = sidecar_library
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = operations.organize(root)
    assert "preview.png" not in os.listdir(os.path.join(root, "rg"))
    assert any("rg.preview.mp4: no still made from it: ffmpeg is not installed" in p for p in result.plan.problems)


def test_a_real_ffmpeg_gives_the_first_frame(tmp_path):
    import shutil
    import subprocess
    from lora_atlas.library.video_still import PNG_MAGIC, first_frame
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (Debian: apt install ffmpeg): the real first-frame extraction is not run")
    video = tmp_path / "a.preview.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "color=red:s=32x16",
                    "-frames:v", "2", str(video)], check=True)
    data, why = first_frame(str(video))
    assert why is None and data.startswith(PNG_MAGIC)
    assert first_frame(str(tmp_path / "missing.mp4"))[0] is None
