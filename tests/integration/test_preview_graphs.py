"""Preview graphs (library/previews/graph.py) on a real ComfyUI (COMFYUI_DIR; 0.3.64 and 0.33.0):
every family's prompt is one the server's /object_info accepts (node types, input names, links,
ranges, choices), and an SD1 preview built by graph.py with the test checkpoint and a LoRA of the test
library renders an image of the configured size."""

from __future__ import annotations

import os
import struct

import pytest

from comfy_http import get_json, run_prompt   # tests/helpers, via pytest `pythonpath`
from lora_atlas.library.previews import graph, prompts, settings

pytestmark = pytest.mark.integration

CKPT = "sd15_random.safetensors"

# Families whose graphs need what only ComfyUI 0.33.0 has: (node, CLIPLoader/DualCLIPLoader type or None).
NEEDS_033 = {"flux2": ("Flux2Scheduler", "flux2"), "hunyuan_video15": ("EmptyHunyuanVideo15Latent", "hunyuan_video_15"),
             "kandinsky5": ("DualCLIPLoader", "kandinsky5"), "krea2": ("CLIPLoader", "krea2"),
             "ernie_image": ("EmptyFlux2LatentImage", "flux2")}


def _skip_unless_server_has(object_info, family):
    if family not in NEEDS_033:
        return
    node, clip_type = NEEDS_033[family]
    types = []
    for loader in ("CLIPLoader", "DualCLIPLoader"):
        spec = object_info.get(loader, {}).get("input", {}).get("required", {}).get("type") or [[]]
        types += spec[0] if isinstance(spec[0], list) else (spec[1] if len(spec) > 1 else {}).get("options", [])
    if node not in object_info or clip_type not in types:
        pytest.skip(f"{family} previews need ComfyUI 0.33.0 (node {node}, text-encoder type {clip_type!r}); "
                    f"this server lacks them")


@pytest.fixture(scope="module")
def object_info(comfy_server):
    status, info = get_json(comfy_server, "/object_info")
    assert status == 200
    return info


def _lora_name(server, stem="hero") -> str:
    """The test library's SD1 LoRA as ComfyUI names it (wherever an earlier test moved it)."""
    for folder, _, files in sorted(os.walk(server["loras"])):
        for f in sorted(files):
            if f == stem + ".safetensors":
                return os.path.relpath(os.path.join(folder, f), server["loras"]).replace(os.sep, "/")
    raise AssertionError(f"no {stem}.safetensors under {server['loras']}")


@pytest.mark.parametrize("family", settings.FAMILIES)
def test_every_family_graph_is_accepted_by_object_info(comfy_server, object_info, family):
    _skip_unless_server_has(object_info, family)
    s = settings.validate(None)
    p = prompts.preview_prompt(s, "hero.safetensors", {"trigger_words": ["hro"]})
    pair = graph.ab_pair(s, family, _lora_name(comfy_server), p, seed=graph.preview_seed(family),
                         filename_prefix=f"lora_atlas_previews/{family}")
    for g in pair.values():
        assert graph.object_info_problems(g, object_info) == []
    t = settings.resolved(s, family)
    if t["vae"] == "pixel_space":                           # not a file: the choice ComfyUI adds to VAELoader
        assert "pixel_space" in object_info["VAELoader"]["input"]["required"]["vae_name"][0]
    if t.get("checkpoint") is None:                      # the checkpoint form too, for a family that has one
        s2 = settings.validate({"templates": {family: {"checkpoint": CKPT}}})
        g = graph.family_graph(s2, family, _lora_name(comfy_server), p, seed=1, filename_prefix="x/y")
        assert graph.object_info_problems(g, object_info) == []


def test_the_check_catches_what_the_server_would_refuse(comfy_server, object_info):
    s = settings.validate(None)
    g = graph.family_graph(s, "sd1", _lora_name(comfy_server), prompts.preview_prompt(s, "a.safetensors"),
                           seed=1, filename_prefix="x/y")
    g["6"]["inputs"]["sampler_name"] = "no_such_sampler"
    g["6"]["inputs"]["positive"] = ["1", 2]                     # VAE into a CONDITIONING input
    del g["7"]["inputs"]["vae"]
    g["8"]["inputs"]["extra"] = 1
    g["9"] = {"class_type": "NoSuchNode", "inputs": {}}
    problems = graph.object_info_problems(g, object_info, check_models=True)
    for fragment in ("no_such_sampler", "wants CONDITIONING", "'vae' is missing", "no input 'extra'", "no node 'NoSuchNode'",
                     "v1-5-pruned-emaonly.safetensors"):    # the default checkpoint is not on the test server
        assert any(fragment in p for p in problems), (fragment, problems)


def _png_size(path) -> tuple:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_an_sd1_preview_renders_on_the_server(comfy_server, object_info):
    s = settings.validate({"width": 64, "height": 64, "steps": 2, "weight": 0.8,
                           "templates": {"sd1": {"checkpoint": CKPT}}})
    lora = _lora_name(comfy_server)
    p = prompts.preview_prompt(s, lora, {"trigger_words": ["hro", "cape"], "name": "Hero"})
    pair = graph.ab_pair(s, "sd1", lora, p, seed=graph.preview_seed("hero-stable-id"),
                         filename_prefix="lora_atlas_previews/hero")
    for which, g in pair.items():
        assert graph.object_info_problems(g, object_info, check_models=True) == []
        entry = run_prompt(comfy_server, g)
        assert entry["status"]["status_str"] == "success", entry["status"]
        (save_id,) = [k for k, n in g.items() if n["class_type"] == "SaveImage"]
        (image,) = entry["outputs"][save_id]["images"]
        assert image["filename"].startswith("hero_base" if which == "baseline" else "hero_0")
        path = os.path.join(comfy_server["output"], image["subfolder"], image["filename"])
        assert _png_size(path) == (64, 64)
    assert "lora key not loaded" not in comfy_server["log"].read_text()
