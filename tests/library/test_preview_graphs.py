"""Preview graphs (library/previews/graph.py): per family, an API-format prompt whose links all point
to existing nodes and outputs, with the LoRA and its weight in ComfyUI's own loader node, a fixed seed
per LoRA, the same dict for the same inputs, and an A/B baseline without the LoRA."""

from __future__ import annotations

import json

import pytest

from lora_atlas.library.errors import InvalidDocument
from lora_atlas.library.previews import graph, prompts, settings

LORA = "styles/hero.safetensors"


def _build(family, s=None, lora=LORA, **kw):
    s = s or settings.validate({"weight": 0.75})
    p = prompts.preview_prompt(s, LORA, {"trigger_words": ["hro"], "name": "Hero"})
    return graph.family_graph(s, family, lora, p, seed=kw.get("seed", graph.preview_seed("id-1")),
                              filename_prefix=kw.get("prefix", "lora_atlas/previews/hero"))


def _one(g, class_type):
    (node,) = [n for n in g.values() if n["class_type"] == class_type]
    return node


def _by_class(g, class_type):
    return [k for k, n in g.items() if n["class_type"] == class_type]


def _sampler_inputs(g) -> dict:
    """The KSampler's inputs, or the same facts gathered from Flux.2's SamplerCustomAdvanced chain."""
    if _by_class(g, "KSampler"):
        return _one(g, "KSampler")["inputs"]
    custom = _one(g, "SamplerCustomAdvanced")["inputs"]
    guider = g[custom["guider"][0]]["inputs"]
    sigmas = g[custom["sigmas"][0]]
    assert sigmas["class_type"] == "Flux2Scheduler"
    latent = g[custom["latent_image"][0]]["inputs"]
    assert (sigmas["inputs"]["width"], sigmas["inputs"]["height"]) == (latent["width"], latent["height"])
    return {"seed": g[custom["noise"][0]]["inputs"]["noise_seed"], "steps": sigmas["inputs"]["steps"],
            "cfg": guider["cfg"], "sampler_name": g[custom["sampler"][0]]["inputs"]["sampler_name"],
            "scheduler": settings.FLUX2_SCHEDULER, "model": guider["model"], "positive": guider["positive"],
            "negative": guider["negative"], "latent_image": custom["latent_image"]}


@pytest.mark.parametrize("family", settings.FAMILIES)
def test_every_family_builds_a_linked_graph_with_the_lora_at_its_weight(family):
    g = _build(family)
    assert graph.structure_problems(g) == []
    assert list(g) == [str(i) for i in range(1, len(g) + 1)]
    t = settings.resolved(settings.validate({"weight": 0.75}), family)
    lora_class = "LoraLoader" if t["lora_text_encoder"] else "LoraLoaderModelOnly"
    lora = _one(g, lora_class)
    assert lora["inputs"]["lora_name"] == LORA and lora["inputs"]["strength_model"] == 0.75
    if lora_class == "LoraLoader":
        assert lora["inputs"]["strength_clip"] == 0.75
        (lora_id,) = _by_class(g, "LoraLoader")
        for enc in _by_class(g, "CLIPTextEncode"):                # both prompts see the LoRA's text encoder
            assert g[enc]["inputs"]["clip"] == [lora_id, 1]
    sampler = _sampler_inputs(g)
    assert (sampler["seed"], sampler["steps"], sampler["cfg"]) == (graph.preview_seed("id-1"), t["steps"], t["cfg"])
    assert (sampler["sampler_name"], sampler["scheduler"]) == (t["sampler"], t["scheduler"])
    chain = sampler["model"]                                       # the sampler's model goes through the LoRA
    while g[chain[0]]["class_type"] in ("ModelSamplingSD3", "ModelSamplingAuraFlow"):
        assert g[chain[0]]["inputs"]["shift"] == t["shift"]
        assert (g[chain[0]]["class_type"] == "ModelSamplingAuraFlow") == (family in graph.AURAFLOW_SHIFT)
        chain = g[chain[0]]["inputs"]["model"]
    assert g[chain[0]]["class_type"] == lora_class
    latent = g[sampler["latent_image"][0]]
    assert latent["class_type"] == graph.LATENT_NODE[family]
    assert (latent["inputs"]["width"], latent["inputs"]["height"]) == (t["width"], t["height"])
    if family in settings.VIDEO_FAMILIES:
        assert latent["inputs"]["length"] == 1                     # one frame
    pos = g[sampler["positive"][0]]
    if t["guidance"] is not None:
        assert pos["class_type"] == "FluxGuidance" and pos["inputs"]["guidance"] == t["guidance"]
        pos = g[pos["inputs"]["conditioning"][0]]
    assert pos["inputs"]["text"].startswith(t["prompt_prefix"] + "hro, ")
    assert g[sampler["negative"][0]]["inputs"]["text"] == t["prompt_prefix"] + settings.DEFAULT_NEGATIVE
    assert _one(g, "SaveImage")["inputs"] == {"images": [_by_class(g, "VAEDecode")[0], 0],
                                              "filename_prefix": "lora_atlas/previews/hero"}


def test_models_come_from_the_template():
    s = settings.validate({"templates": {"sdxl": {"checkpoint": "ponyDiffusionV6XL.safetensors"},
                                         "flux": {"checkpoint": "flux1-dev-fp8.safetensors"},
                                         "sd3": {"text_encoders": ["clip_l.safetensors", "clip_g.safetensors"]}}})
    assert _one(_build("sdxl", s), "CheckpointLoaderSimple")["inputs"] == {"ckpt_name": "ponyDiffusionV6XL.safetensors"}
    flux = _build("flux", s)
    assert not _by_class(flux, "UNETLoader") and graph.structure_problems(flux) == []
    sd3 = _build("sd3", s)
    assert _one(sd3, "DualCLIPLoader")["inputs"] == {"clip_name1": "clip_l.safetensors",
                                                     "clip_name2": "clip_g.safetensors", "type": "sd3"}
    wan = _build("wan")
    assert _one(wan, "CLIPLoader")["inputs"]["type"] == "wan"
    assert _one(wan, "UNETLoader")["inputs"]["unet_name"] == settings.TEMPLATE_DEFAULTS["wan"]["diffusion_model"]


@pytest.mark.parametrize("family, loader, clip_type, vae", [
    ("z_image", "CLIPLoader", "lumina2", "ae.safetensors"),
    ("lumina2", "CLIPLoader", "lumina2", "ae.safetensors"),
    ("flux2", "CLIPLoader", "flux2", "flux2-vae.safetensors"),
    ("chroma_radiance", "CLIPLoader", "chroma", "pixel_space"),           # pixel-space model: no VAE file
    ("hunyuan_video15", "DualCLIPLoader", "hunyuan_video_15", "hunyuanvideo15_vae_fp16.safetensors"),
    ("kandinsky5", "DualCLIPLoader", "kandinsky5", "hunyuan_video_vae_bf16.safetensors"),
])
def test_2026_families_load_their_own_encoder_type_vae_and_latent(family, loader, clip_type, vae):
    g = _build(family)
    assert _one(g, loader)["inputs"]["type"] == clip_type
    assert _one(g, "VAELoader")["inputs"] == {"vae_name": vae}
    assert _one(g, "UNETLoader")["inputs"]["unet_name"] == settings.TEMPLATE_DEFAULTS[family]["diffusion_model"]
    (latent,) = [n for n in g.values() if n["class_type"].startswith("Empty")]
    assert latent["class_type"] == graph.LATENT_NODE[family]
    assert ("length" in latent["inputs"]) == (family in settings.VIDEO_FAMILIES)


def test_lumina2_prompts_carry_its_system_prompt_and_z_image_shifts_like_auraflow():
    texts = sorted(n["inputs"]["text"] for n in _build("lumina2").values() if n["class_type"] == "CLIPTextEncode")
    assert all(t.startswith(settings.LUMINA2_PREFIX) for t in texts) and settings.LUMINA2_PREFIX.endswith("<Prompt Start> ")
    z = _build("z_image")
    assert _one(z, "ModelSamplingAuraFlow")["inputs"]["shift"] == 3.0 and not _by_class(z, "ModelSamplingSD3")
    s = settings.validate({"templates": {"lumina2": {"prompt_prefix": ""}, "sd3": {"shift": 2.0}}})
    assert all(not n["inputs"]["text"].startswith("You are") for n in _build("lumina2", s).values()
               if n["class_type"] == "CLIPTextEncode")
    assert _one(_build("sd3", s), "ModelSamplingSD3")["inputs"]["shift"] == 2.0      # older families unchanged


def test_flux2_samples_with_its_resolution_schedule_or_a_ksampler_when_asked():
    g = _build("flux2")
    assert not _by_class(g, "KSampler")
    assert _one(g, "Flux2Scheduler")["inputs"] == {"steps": 20, "width": 1024, "height": 1024}
    assert _one(g, "FluxGuidance")["inputs"]["guidance"] == 4.0
    assert _one(g, "EmptyFlux2LatentImage")["inputs"] == {"width": 1024, "height": 1024, "batch_size": 1}
    plain = _build("flux2", settings.validate({"templates": {"flux2": {"scheduler": "simple"}}}))
    assert not _by_class(plain, "SamplerCustomAdvanced") and _one(plain, "KSampler")["inputs"]["scheduler"] == "simple"
    with pytest.raises(InvalidDocument) as err:
        settings.validate({"templates": {"flux": {"scheduler": "flux2"}}})
    assert "templates.flux.scheduler" in err.value.problems[0]


def test_hidream_loads_four_encoders_in_order_and_krea2_keeps_its_own_shift():
    g = _build("hidream")
    encoders = settings.TEMPLATE_DEFAULTS["hidream"]["text_encoders"]
    assert _one(g, "QuadrupleCLIPLoader")["inputs"] == {f"clip_name{i + 1}": n for i, n in enumerate(encoders)}
    assert encoders[0].startswith("clip_l") and encoders[3].startswith("llama")      # the loader's recipe order
    assert _one(g, "ModelSamplingSD3")["inputs"]["shift"] == 6.0 and not _by_class(g, "ModelSamplingAuraFlow")
    assert _one(g, "EmptySD3LatentImage")["inputs"] == {"width": 1024, "height": 1024, "batch_size": 1}
    k = _build("krea2")
    assert _one(k, "CLIPLoader")["inputs"] == {"clip_name": "qwen3_vl_4b_bf16.safetensors", "type": "krea2"}
    assert _one(k, "VAELoader")["inputs"] == {"vae_name": "qwen_image_vae.safetensors"}
    assert not _by_class(k, "ModelSamplingSD3") and not _by_class(k, "ModelSamplingAuraFlow")
    assert (_one(k, "KSampler")["inputs"]["steps"], _one(k, "KSampler")["inputs"]["cfg"]) == (8, 1.0)
    with pytest.raises(InvalidDocument) as err:                       # three names for four encoders
        settings.validate({"templates": {"hidream": {"text_encoders": encoders[:3]}}})
    assert err.value.problems == [f"{settings.PREVIEW_CONFIG_NAME}: templates.hidream.text_encoders: "
                                  "hidream takes 4 text encoder(s), not 3"]


def test_anima_follows_comfyuis_blueprint_and_its_lora_patches_the_text_encoder_too():
    g = _build("anima")
    assert _one(g, "CLIPLoader")["inputs"] == {"clip_name": "qwen_3_06b_base.safetensors", "type": "stable_diffusion"}
    assert _one(g, "LoraLoader")["inputs"]["strength_clip"] == 0.75         # sd-scripts trains its Qwen3 too
    assert (_one(g, "KSampler")["inputs"]["sampler_name"], _one(g, "KSampler")["inputs"]["steps"]) == ("er_sde", 30)
    assert _one(g, "EmptyLatentImage")["inputs"] == {"width": 1024, "height": 1024, "batch_size": 1}


def test_a_missing_model_of_a_new_family_names_its_template_key():
    from lora_atlas.library.previews import render
    t = settings.resolved(settings.validate(None), "hunyuan_video15")
    lists = {"diffusion_models": [t["diffusion_model"]], "text_encoders": [t["text_encoders"][0]], "vae": [t["vae"]]}
    (msg,) = render.missing_models(t, lists, "http://h:1")
    assert "byt5_small_glyphxl_fp16.safetensors" in msg and "templates.hunyuan_video15.text_encoders" in msg
    radiance = settings.resolved(settings.validate(None), "chroma_radiance")      # ComfyUI lists 'pixel_space' as a VAE
    assert render.missing_models(radiance, {"diffusion_models": [radiance["diffusion_model"]],
                                            "text_encoders": radiance["text_encoders"], "vae": ["pixel_space"]}, "s") == []


def test_same_inputs_same_dict_and_a_fixed_seed_per_lora():
    assert json.dumps(_build("flux")) == json.dumps(_build("flux"))
    assert graph.preview_seed("id-1") == graph.preview_seed("id-1") != graph.preview_seed("id-2")
    assert 0 <= graph.preview_seed("x" * 10_000) < 1 << graph.SEED_BITS


@pytest.mark.parametrize("family", ["sd1", "wan", "flux2"])
def test_ab_baseline_is_the_same_graph_without_the_lora(family):
    s = settings.validate(None)
    p = prompts.preview_prompt(s, LORA, {})
    pair = graph.ab_pair(s, family, LORA, p, seed=7, filename_prefix="p/hero")
    lora, base = pair["lora"], pair["baseline"]
    assert graph.structure_problems(base) == []
    assert not _by_class(base, "LoraLoader") and not _by_class(base, "LoraLoaderModelOnly")
    assert len(base) == len(lora) - 1
    assert _sampler_inputs(base)["seed"] == _sampler_inputs(lora)["seed"] == 7
    assert _one(base, "SaveImage")["inputs"]["filename_prefix"] == "p/hero_base"
    texts = lambda g: sorted(n["inputs"]["text"] for n in g.values() if n["class_type"] == "CLIPTextEncode")
    assert texts(base) == texts(lora)


def test_bad_inputs_are_all_reported():
    t = settings.resolved(settings.validate(None), "sd1")
    with pytest.raises(InvalidDocument) as err:
        graph.preview_graph(t, "../x.safetensors", weight=float("nan"), prompt="a" * 5000, negative=None, seed=-1,
                            width=63, height=64, steps=0, cfg=1.0, sampler="euler", scheduler="",
                            filename_prefix="/abs/out")
    text = "\n".join(err.value.problems)
    for key in ("lora_name", "weight", "prompt", "negative", "seed", "width", "steps", "scheduler", "filename_prefix"):
        assert key + ":" in text, key
    assert len(err.value.problems) == 9


def test_structure_check_finds_broken_links():
    g = _build("sd1")
    g["6"]["inputs"]["model"] = ["99", 0]
    g["7"]["inputs"]["vae"] = ["1", 5]
    problems = graph.structure_problems(g)
    assert len(problems) == 2 and "missing node 99" in problems[0] and "no output 5" in problems[1]
