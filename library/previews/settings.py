"""`preview_config.json`: the global preview settings and one render template per architecture family.

The seed's global fields stay at the top level, as the defaults of every render:

    prompt            the prompt template (may use {trigger_words}, {title}, {name}; see prompts.py)
    full_prompt       when not empty, the whole prompt template used instead of `prompt`
    width, height     640 x 640          steps 30          guidance_scale 8.0 (the sampler's cfg)
    weight            1.0 (the LoRA's strength)
    negative_prompt   and `negative_prompt_source` ("default" until a person sets it, then "user")
    note              free text for people

`templates` holds one entry per family in FAMILIES: which models the rendering ComfyUI must load
(`checkpoint`, or `diffusion_model` + `text_encoders` + `vae`), `sampler`, `scheduler`, and the
family's own `steps` / `cfg` / `width` / `height` (null: the global value), plus `guidance`
(FluxGuidance, Flux and HunyuanVideo), `shift` (ModelSamplingSD3, or ModelSamplingAuraFlow for the families
whose timestep is the sigma), `prompt_prefix` (put before both prompts: Lumina 2's system prompt) and
`lora_text_encoder` (whether the LoRA also patches the text encoder: LoraLoader, or LoraLoaderModelOnly).
Flux.2's `scheduler` "flux2" is its own resolution-dependent schedule (Flux2Scheduler).

`load_settings` fills defaults into what the file holds, checks every field and raises one
InvalidDocument listing every problem, each naming the file. Fields it does not know are kept as they
are, so older files (and other tools' fields) stay readable; `dumps` is deterministic.
"""

from __future__ import annotations

import copy
import json
import math
import os

from ..errors import InvalidDocument
from ..index_files import PREVIEW_CONFIG_NAME, JsonUnreadable, read_json

FAMILIES = ("sd1", "sd2", "sdxl", "sd3", "flux", "chroma", "wan", "hunyuan_video", "qwen_image",
            "z_image", "lumina2", "flux2", "chroma_radiance", "hunyuan_video15", "kandinsky5", "hidream", "krea2",
            "anima", "ernie_image")
SD_STYLE = ("sd1", "sd2", "sdxl")                      # one checkpoint holds model, text encoder and VAE
VIDEO_FAMILIES = ("wan", "hunyuan_video", "hunyuan_video15", "kandinsky5")     # rendered as one frame

# Text-encoder loader `type` per family and number of encoders (CLIPLoader, DualCLIPLoader, TripleCLIPLoader,
# QuadrupleCLIPLoader; None: the loader has no `type`).
CLIP_TYPES = {
    "sd1": {1: "stable_diffusion"}, "sd2": {1: "stable_diffusion"}, "sdxl": {2: "sdxl"},
    "sd3": {1: "sd3", 2: "sd3", 3: None}, "flux": {2: "flux"}, "chroma": {1: "chroma"}, "wan": {1: "wan"},
    "hunyuan_video": {2: "hunyuan_video"}, "qwen_image": {1: "qwen_image"},
    "z_image": {1: "lumina2"}, "lumina2": {1: "lumina2"}, "flux2": {1: "flux2"}, "chroma_radiance": {1: "chroma"},
    "hunyuan_video15": {2: "hunyuan_video_15"}, "kandinsky5": {2: "kandinsky5"},
    "hidream": {4: None}, "krea2": {1: "krea2"}, "anima": {1: "stable_diffusion"},
    "ernie_image": {1: "flux2"},
}

# Lumina 2 was trained with a system prompt before the user's (ComfyUI's CLIPTextEncodeLumina2 "superior").
LUMINA2_PREFIX = ("You are an assistant designed to generate superior images with the superior degree of image-text "
                  "alignment based on textual prompts or user prompts. <Prompt Start> ")

MAX_TEXT = 4000            # prompt templates and the negative prompt
MAX_NOTE = 4000
MAX_MODEL_NAME = 512
SIZE_MIN, SIZE_MAX, SIZE_STEP = 64, 4096, 16
STEPS_MAX = 200
CFG_MAX = 100.0
WEIGHT_MAX = 10.0

DEFAULT_NEGATIVE = "lowres, worst quality, low quality, blurry, watermark, text, signature"

GLOBAL_DEFAULTS = {
    "prompt": "{trigger_words}, best quality, detailed",
    "full_prompt": "",
    "width": 640,
    "height": 640,
    "steps": 30,
    "guidance_scale": 8.0,
    "weight": 1.0,
    "negative_prompt": DEFAULT_NEGATIVE,
    "negative_prompt_source": "default",
    "note": "",
}
NEGATIVE_SOURCES = ("default", "user")


def _sep(diffusion_model, text_encoders, vae, sampler, scheduler, steps, cfg, size, **extra):
    out = {"diffusion_model": diffusion_model, "text_encoders": list(text_encoders), "vae": vae,
           "sampler": sampler, "scheduler": scheduler, "steps": steps, "cfg": cfg,
           "width": size[0] if size else None, "height": size[1] if size else None}
    out.update(extra)
    return out


def _ckpt(checkpoint, sampler, scheduler, steps=None, cfg=None, size=None):
    return {"checkpoint": checkpoint, "sampler": sampler, "scheduler": scheduler, "steps": steps, "cfg": cfg,
            "width": size[0] if size else None, "height": size[1] if size else None}


# The family's own sensible settings; model names are the usual ComfyUI file names, to be checked
# against the rendering server's lists before queueing.
TEMPLATE_DEFAULTS = {
    "sd1": _ckpt("v1-5-pruned-emaonly.safetensors", "euler_ancestral", "normal"),
    "sd2": _ckpt("v2-1_768-ema-pruned.safetensors", "euler_ancestral", "normal", size=(768, 768)),
    "sdxl": _ckpt("sd_xl_base_1.0.safetensors", "dpmpp_2m", "karras", 30, 7.0, (1024, 1024)),
    "sd3": _sep("sd3.5_medium.safetensors", ["clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors"],
                "sd3_vae.safetensors", "euler", "sgm_uniform", 28, 4.5, (1024, 1024), shift=3.0),
    "flux": _sep("flux1-dev.safetensors", ["clip_l.safetensors", "t5xxl_fp16.safetensors"], "ae.safetensors",
                 "euler", "simple", 20, 1.0, (1024, 1024), guidance=3.5),
    "chroma": _sep("chroma.safetensors", ["t5xxl_fp16.safetensors"], "ae.safetensors",
                   "euler", "beta", 26, 4.0, (1024, 1024), lora_text_encoder=False),
    "wan": _sep("wan2.1_t2v_14B_fp16.safetensors", ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"], "wan_2.1_vae.safetensors",
                "uni_pc", "simple", 30, 6.0, (832, 480), shift=8.0, lora_text_encoder=False),
    "hunyuan_video": _sep("hunyuan_video_t2v_720p_bf16.safetensors",
                          ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"], "hunyuan_video_vae_bf16.safetensors",
                          "euler", "simple", 20, 1.0, (848, 480), guidance=6.0, lora_text_encoder=False),
    "qwen_image": _sep("qwen_image_fp8_e4m3fn.safetensors", ["qwen_2.5_vl_7b_fp8_scaled.safetensors"],
                       "qwen_image_vae.safetensors", "euler", "simple", 20, 2.5, (1328, 1328), lora_text_encoder=False),
    # The 2026 families, after the text-to-image/video workflows ComfyUI 0.33.0 ships (blueprints/).
    "z_image": _sep("z_image_turbo_bf16.safetensors", ["qwen_3_4b.safetensors"], "ae.safetensors",
                    "res_multistep", "simple", 8, 1.0, (1024, 1024), shift=3.0, lora_text_encoder=False),
    "lumina2": _sep("lumina_2_model_bf16.safetensors", ["gemma_2_2b_fp16.safetensors"], "ae.safetensors",
                    "res_multistep", "simple", 25, 4.0, (1024, 1024), shift=6.0, lora_text_encoder=False,
                    prompt_prefix=LUMINA2_PREFIX),
    "flux2": _sep("flux2_dev_fp8mixed.safetensors", ["mistral_3_small_flux2_bf16.safetensors"], "flux2-vae.safetensors",
                  "euler", "flux2", 20, 1.0, (1024, 1024), guidance=4.0, lora_text_encoder=False),
    "chroma_radiance": _sep("chroma-radiance.safetensors", ["t5xxl_fp16.safetensors"], "pixel_space",
                            "euler", "beta", 26, 4.0, (1024, 1024), lora_text_encoder=False),
    "hunyuan_video15": _sep("hunyuanvideo1.5_720p_t2v_fp16.safetensors",
                            ["qwen_2.5_vl_7b_fp8_scaled.safetensors", "byt5_small_glyphxl_fp16.safetensors"],
                            "hunyuanvideo15_vae_fp16.safetensors", "euler", "simple", 20, 6.0, (848, 480), shift=7.0,
                            lora_text_encoder=False),
    "kandinsky5": _sep("kandinsky5lite_t2v_sft_5s.safetensors", ["qwen_2.5_vl_7b_fp8_scaled.safetensors", "clip_l.safetensors"],
                       "hunyuan_video_vae_bf16.safetensors", "euler", "simple", 50, 5.0, (768, 512), shift=10.0,
                       lora_text_encoder=False),
    # HiDream-I1 Dev as ComfyUI's HiDream example runs it (Full: uni_pc/simple, 50 steps, cfg 5, shift 3);
    # its four encoders in QuadrupleCLIPLoader's order: long CLIP-L, long CLIP-G, T5-XXL, Llama 3.1 8B.
    "hidream": _sep("hidream_i1_dev_bf16.safetensors",
                    ["clip_l_hidream.safetensors", "clip_g_hidream.safetensors", "t5xxl_fp8_e4m3fn_scaled.safetensors",
                     "llama_3.1_8b_instruct_fp8_scaled.safetensors"], "ae.safetensors",
                    "lcm", "normal", 28, 1.0, (1024, 1024), shift=6.0, lora_text_encoder=False),
    # Krea 2 Turbo (8 steps, no guidance; LoRAs trained on Base apply to it): Qwen3-VL-4B as its own CLIP
    # type, the Qwen-Image VAE, and the model's own fixed shift (ComfyUI's default for it, so no shift node).
    "krea2": _sep("krea2_turbo_bf16.safetensors", ["qwen3_vl_4b_bf16.safetensors"], "qwen_image_vae.safetensors",
                  "euler", "simple", 8, 1.0, (1024, 1024), lora_text_encoder=False),
    # Anima as ComfyUI 0.33.0's "Text to Image (Anima)" blueprint runs it (its Qwen3 0.6B encoder is
    # found by the file's shapes, so the loader's type is the plain one).
    "anima": _sep("anima-base-v1.0.safetensors", ["qwen_3_06b_base.safetensors"], "qwen_image_vae.safetensors",
                  "er_sde", "simple", 30, 4.0, (1024, 1024)),
    # Ernie-Image as ComfyUI 0.33.0's "Text to Image (Ernie Image)" blueprint runs it, without the
    # prompt-enhancer LLM pass (Turbo: ernie-image-turbo, 8 steps, cfg 1): Flux.2's VAE and latent.
    "ernie_image": _sep("ernie-image.safetensors", ["ministral-3-3b.safetensors"], "flux2-vae.safetensors",
                        "euler", "simple", 20, 4.0, (1024, 1024), lora_text_encoder=False),
}
# `scheduler` "flux2": Flux.2's resolution-dependent schedule (Flux2Scheduler + SamplerCustomAdvanced).
FLUX2_SCHEDULER = "flux2"
TEMPLATE_OPTIONAL = {"guidance": None, "shift": None, "weight_dtype": "default", "prompt_prefix": ""}
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
MODEL_KEYS = ("checkpoint", "diffusion_model", "text_encoders", "vae")
SEPARATE_KEYS = MODEL_KEYS[1:]


def default_settings() -> dict:
    """A fresh copy of every default: the global fields and every family's template."""
    out = copy.deepcopy(GLOBAL_DEFAULTS)
    out["templates"] = {family: _template_defaults(family) for family in FAMILIES}
    return out


def _template_defaults(family: str) -> dict:
    out = copy.deepcopy(TEMPLATE_DEFAULTS[family])
    for key, value in TEMPLATE_OPTIONAL.items():
        out.setdefault(key, value)
    out.setdefault("lora_text_encoder", True)
    return out


def with_defaults(existing) -> dict:
    """Defaults filled into what a file holds (which wins, unknown fields included). A template that
    switches between a `checkpoint` and separate models drops the default of the other form."""
    out = default_settings()
    if not isinstance(existing, dict):
        return out
    templates = existing.get("templates")
    for key, value in existing.items():
        if key != "templates":
            out[key] = copy.deepcopy(value)
    if isinstance(templates, dict):
        for family, given in templates.items():
            if family in out["templates"] and isinstance(given, dict):
                base = out["templates"][family]
                if given.get("checkpoint") is not None:
                    for k in SEPARATE_KEYS:
                        base.pop(k, None)
                elif any(given.get(k) is not None for k in SEPARATE_KEYS):
                    base.pop("checkpoint", None)
                base.update(copy.deepcopy(given))
            else:
                out["templates"][family] = copy.deepcopy(given)
    elif "templates" in existing:
        out["templates"] = copy.deepcopy(templates)
    return out


def load_settings(root: str) -> dict:
    """The validated settings of the library at `root` (defaults when the file is absent)."""
    path = os.path.join(root, PREVIEW_CONFIG_NAME)
    try:
        doc = read_json(path)
    except JsonUnreadable as exc:
        raise InvalidDocument([f"{path}: {exc}"]) from None
    return validate(doc, source=path)


def validate(doc, source: str = PREVIEW_CONFIG_NAME) -> dict:
    """`doc` with defaults filled in, or InvalidDocument listing every problem as '<source>: <key>: <why>'."""
    if doc is not None and not isinstance(doc, dict):
        raise InvalidDocument([f"{source}: must be a JSON object of settings"])
    settings = with_defaults(doc)
    problems = [f"{source}: {p}" for p in _problems(settings)]
    if problems:
        raise InvalidDocument(problems)
    return settings


def dumps(settings: dict) -> bytes:
    """Deterministic JSON: keys sorted, two-space indent, one final newline."""
    return (json.dumps(settings, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def resolved(settings: dict, family: str) -> dict:
    """One family's render settings: its template over the global fields (validated settings)."""
    if family not in FAMILIES:
        raise InvalidDocument([f"no preview template for architecture '{family}'; known: {', '.join(FAMILIES)}"])
    t = settings["templates"][family]

    def pick(key, global_key):
        return t.get(key) if t.get(key) is not None else settings[global_key]

    out = {key: copy.deepcopy(t.get(key)) for key in (*MODEL_KEYS, "sampler", "scheduler", "guidance", "shift",
                                                        "weight_dtype", "lora_text_encoder")}
    out["prompt_prefix"] = t.get("prompt_prefix") or ""
    out.update(family=family, steps=pick("steps", "steps"), cfg=float(pick("cfg", "guidance_scale")),
               width=pick("width", "width"), height=pick("height", "height"), weight=float(settings["weight"]))
    return out


# --- checks ---------------------------------------------------------------------------------------

def _problems(s: dict) -> list:
    out = []
    for key in ("prompt", "full_prompt", "negative_prompt"):
        out += _text(key, s[key], MAX_TEXT)
    out += _text("note", s["note"], MAX_NOTE)
    if s["negative_prompt_source"] not in NEGATIVE_SOURCES:
        out.append(f"negative_prompt_source: must be one of {', '.join(NEGATIVE_SOURCES)}, not {s['negative_prompt_source']!r}")
    out += _size("width", s["width"]) + _size("height", s["height"])
    out += _int("steps", s["steps"], 1, STEPS_MAX)
    out += _number("guidance_scale", s["guidance_scale"], 0.0, CFG_MAX)
    out += _number("weight", s["weight"], -WEIGHT_MAX, WEIGHT_MAX)
    templates = s["templates"]
    if not isinstance(templates, dict):
        return out + ["templates: must be an object with one template per family"]
    for family in sorted(templates):
        if family not in FAMILIES:
            out.append(f"templates.{family}: unknown family; known: {', '.join(FAMILIES)}")
        elif not isinstance(templates[family], dict):
            out.append(f"templates.{family}: must be an object")
        else:
            out += _template_problems(family, templates[family])
    return out


def _template_problems(family: str, t: dict) -> list:
    p = f"templates.{family}."
    out = []
    if t.get("checkpoint") is not None:
        out += _model_name(p + "checkpoint", t["checkpoint"])
        for key in ("diffusion_model", "vae"):
            if t.get(key) is not None:
                out.append(f"{p}{key}: give either 'checkpoint' or 'diffusion_model' + 'text_encoders' + 'vae', not both")
    else:
        for key in ("diffusion_model", "vae"):
            if t.get(key) is None:
                out.append(f"{p}{key}: missing: name the {key.replace('_', ' ')} file (or set 'checkpoint')")
            else:
                out += _model_name(p + key, t[key])
        encoders = t.get("text_encoders")
        if not isinstance(encoders, list):
            out.append(f"{p}text_encoders: must be a list of text-encoder file names")
        else:
            counts = sorted(CLIP_TYPES[family])
            if len(encoders) not in counts:
                out.append(f"{p}text_encoders: {family} takes {' or '.join(map(str, counts))} text encoder(s), "
                           f"not {len(encoders)}")
            for i, name in enumerate(encoders):
                out += _model_name(f"{p}text_encoders[{i}]", name)
    for key in ("sampler", "scheduler"):
        out += _word(p + key, t.get(key))
    for key in ("steps", "width", "height", "cfg"):
        value = t.get(key)
        if value is None:
            continue
        if key == "steps":
            out += _int(p + key, value, 1, STEPS_MAX)
        elif key == "cfg":
            out += _number(p + key, value, 0.0, CFG_MAX)
        else:
            out += _size(p + key, value)
    for key in ("guidance", "shift"):
        if t.get(key) is not None:
            out += _number(p + key, t[key], 0.0, 100.0)
    out += _text(p + "prompt_prefix", t.get("prompt_prefix", ""), MAX_TEXT)
    if t.get("scheduler") == FLUX2_SCHEDULER and family != "flux2":
        out.append(f"{p}scheduler: '{FLUX2_SCHEDULER}' (Flux2Scheduler) is for the flux2 family only")
    if t.get("weight_dtype", "default") not in WEIGHT_DTYPES:
        out.append(f"{p}weight_dtype: must be one of {', '.join(WEIGHT_DTYPES)}")
    if not isinstance(t.get("lora_text_encoder", True), bool):
        out.append(f"{p}lora_text_encoder: must be true or false")
    return out


def _text(key, value, limit) -> list:
    if not isinstance(value, str):
        return [f"{key}: must be a string"]
    if len(value) > limit:
        return [f"{key}: {len(value)} characters, at most {limit}"]
    if "\x00" in value:
        return [f"{key}: contains a NUL character"]
    return []


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(key, value, lo, hi) -> list:
    if not _is_int(value) or not lo <= value <= hi:
        return [f"{key}: must be a whole number from {lo} to {hi}, not {value!r}"]
    return []


def _number(key, value, lo, hi) -> list:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        return [f"{key}: must be a number from {lo} to {hi}, not {value!r}"]
    return []


def _size(key, value) -> list:
    if not _is_int(value) or not SIZE_MIN <= value <= SIZE_MAX or value % SIZE_STEP:
        return [f"{key}: must be a multiple of {SIZE_STEP} from {SIZE_MIN} to {SIZE_MAX}, not {value!r}"]
    return []


def _word(key, value) -> list:
    if not isinstance(value, str) or not value or len(value) > 64 or not all(c.isalnum() or c in "_-." for c in value):
        return [f"{key}: must be a ComfyUI sampler/scheduler name such as 'euler' or 'normal', not {value!r}"]
    return []


def _model_name(key, value) -> list:
    """A name as ComfyUI lists it: relative, '/'-separated, no '..', no control characters."""
    if not isinstance(value, str) or not value.strip():
        return [f"{key}: must be a model file name as the rendering ComfyUI lists it"]
    parts = value.replace("\\", "/").split("/")
    if (len(value) > MAX_MODEL_NAME or value.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts
            or any(ord(c) < 32 for c in value)):
        return [f"{key}: {value[:80]!r} is not a relative model name (no '..', no absolute path, at most "
                f"{MAX_MODEL_NAME} characters)"]
    return []
