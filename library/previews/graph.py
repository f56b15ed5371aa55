"""Pure builders of API-format ComfyUI prompts that render one LoRA's preview.

A prompt is `{"<id>": {"class_type": ..., "inputs": {name: value | [source_id, output_index]}}}`, node
ids "1", "2", ... in build order, so the same inputs give the same dict. The LoRA is loaded by
ComfyUI's own loader nodes (present in 0.3.64 and 0.33.0, names and inputs as /object_info lists them):

    sd1, sd2, sdxl (checkpoint)  CheckpointLoaderSimple → LoraLoader → CLIPTextEncode ×2, EmptyLatentImage
                                  → KSampler → VAEDecode → SaveImage
    the others                   UNETLoader + CLIPLoader / Dual- / Triple- / QuadrupleCLIPLoader + VAELoader
                                  → LoraLoader or LoraLoaderModelOnly [→ ModelSamplingSD3] → CLIPTextEncode ×2
                                  [→ FluxGuidance] → EmptySD3LatentImage, or for the video families
                                  EmptyHunyuanLatentVideo with one frame → KSampler → VAEDecode → SaveImage

The 2026 families (ComfyUI 0.33.0's own nodes) swap single nodes: `shift` through ModelSamplingAuraFlow
where the model's timestep is its sigma (Z-Image, Lumina 2, Chroma Radiance, Flux.2), the family's latent
node (EmptyFlux2LatentImage, EmptyChromaRadianceLatentImage, EmptyHunyuanVideo15Latent; one frame for
video), and for Flux.2 with scheduler "flux2" the sampler chain ComfyUI ships for it: RandomNoise +
KSamplerSelect + Flux2Scheduler + CFGGuider → SamplerCustomAdvanced.

Any family may name a `checkpoint` instead of separate models. With `lora_name=None` the same graph is
built without the LoRA: the baseline of an A/B pair (same seed, prompt and settings).

`structure_problems(prompt)` checks links against the outputs of the nodes used here;
`object_info_problems(prompt, object_info)` checks a prompt against a server's `/object_info`.
"""

from __future__ import annotations

import hashlib
import math

from ..errors import InvalidDocument
from . import settings as S

# Outputs of the nodes these graphs use, in ComfyUI's order (links are made by type name).
OUTPUTS = {
    "CheckpointLoaderSimple": ("MODEL", "CLIP", "VAE"),
    "UNETLoader": ("MODEL",),
    "CLIPLoader": ("CLIP",),
    "DualCLIPLoader": ("CLIP",),
    "TripleCLIPLoader": ("CLIP",),
    "QuadrupleCLIPLoader": ("CLIP",),
    "VAELoader": ("VAE",),
    "LoraLoader": ("MODEL", "CLIP"),
    "LoraLoaderModelOnly": ("MODEL",),
    "ModelSamplingSD3": ("MODEL",),
    "ModelSamplingAuraFlow": ("MODEL",),
    "CLIPTextEncode": ("CONDITIONING",),
    "FluxGuidance": ("CONDITIONING",),
    "EmptyLatentImage": ("LATENT",),
    "EmptySD3LatentImage": ("LATENT",),
    "EmptyHunyuanLatentVideo": ("LATENT",),
    "EmptyFlux2LatentImage": ("LATENT",),
    "EmptyChromaRadianceLatentImage": ("LATENT",),
    "EmptyHunyuanVideo15Latent": ("LATENT",),
    "KSampler": ("LATENT",),
    "RandomNoise": ("NOISE",),
    "KSamplerSelect": ("SAMPLER",),
    "Flux2Scheduler": ("SIGMAS",),
    "CFGGuider": ("GUIDER",),
    "SamplerCustomAdvanced": ("LATENT", "LATENT"),
    "VAEDecode": ("IMAGE",),
    "SaveImage": (),
}
LATENT_NODE = {"sd1": "EmptyLatentImage", "sd2": "EmptyLatentImage", "sdxl": "EmptyLatentImage",
               "sd3": "EmptySD3LatentImage", "flux": "EmptySD3LatentImage", "chroma": "EmptySD3LatentImage",
               "qwen_image": "EmptySD3LatentImage",
               "wan": "EmptyHunyuanLatentVideo", "hunyuan_video": "EmptyHunyuanLatentVideo",
               "z_image": "EmptySD3LatentImage", "lumina2": "EmptySD3LatentImage", "flux2": "EmptyFlux2LatentImage",
               "chroma_radiance": "EmptyChromaRadianceLatentImage", "hunyuan_video15": "EmptyHunyuanVideo15Latent",
               "kandinsky5": "EmptyHunyuanLatentVideo", "hidream": "EmptySD3LatentImage",
               "krea2": "EmptySD3LatentImage", "anima": "EmptyLatentImage",
               "ernie_image": "EmptyFlux2LatentImage"}
VIDEO_LATENTS = ("EmptyHunyuanLatentVideo", "EmptyHunyuanVideo15Latent")      # take a `length` (one frame)
# Families whose model takes the sigma itself as timestep (multiplier 1): ModelSamplingSD3's x1000 would be wrong.
AURAFLOW_SHIFT = ("z_image", "lumina2", "chroma", "chroma_radiance", "flux2")
CLIP_LOADER = {1: "CLIPLoader", 2: "DualCLIPLoader", 3: "TripleCLIPLoader", 4: "QuadrupleCLIPLoader"}
SEED_BITS = 48             # fits a JavaScript number and ComfyUI's 64-bit seed
MAX_PREFIX = 200


def preview_seed(key: str) -> int:
    """The fixed seed of one LoRA, from its stable id (or name): the same key, the same seed."""
    digest = hashlib.sha256(("lora-atlas-preview\x00" + key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << SEED_BITS) - 1)


class _Prompt:
    def __init__(self):
        self.nodes = {}

    def add(self, class_type: str, **inputs) -> str:
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    def out(self, node_id: str, kind: str) -> list:
        return [node_id, OUTPUTS[self.nodes[node_id]["class_type"]].index(kind)]


def preview_graph(template: dict, lora_name: str | None, *, weight: float, prompt: str, negative: str, seed: int,
                  width: int, height: int, steps: int, cfg: float, sampler: str, scheduler: str,
                  filename_prefix: str) -> dict:
    """The API-format prompt for one preview. `template` is `settings.resolved(settings, family)`
    (its `family`, models, `guidance`, `shift`, `lora_text_encoder`, `weight_dtype`); `lora_name` is
    the LoRA as the rendering ComfyUI lists it, or None for the baseline without it."""
    _check(template, lora_name, weight, prompt, negative, seed, width, height, steps, cfg, sampler, scheduler,
           filename_prefix)
    family = template["family"]
    g = _Prompt()
    model, clip, vae = _loaders(g, template)
    if lora_name is not None:
        if template.get("lora_text_encoder", True):
            lora = g.add("LoraLoader", model=model, clip=clip, lora_name=lora_name,
                         strength_model=float(weight), strength_clip=float(weight))
            model, clip = g.out(lora, "MODEL"), g.out(lora, "CLIP")
        else:
            lora = g.add("LoraLoaderModelOnly", model=model, lora_name=lora_name, strength_model=float(weight))
            model = g.out(lora, "MODEL")
    if template.get("shift") is not None:
        shift_class = "ModelSamplingAuraFlow" if family in AURAFLOW_SHIFT else "ModelSamplingSD3"
        model = g.out(g.add(shift_class, model=model, shift=float(template["shift"])), "MODEL")
    prefix = template.get("prompt_prefix") or ""
    positive = g.out(g.add("CLIPTextEncode", text=prefix + prompt, clip=clip), "CONDITIONING")
    negative_cond = g.out(g.add("CLIPTextEncode", text=prefix + negative, clip=clip), "CONDITIONING")
    if template.get("guidance") is not None:
        positive = g.out(g.add("FluxGuidance", conditioning=positive, guidance=float(template["guidance"])),
                         "CONDITIONING")
    latent_class = LATENT_NODE[family]
    size = {"width": int(width), "height": int(height)}
    if latent_class in VIDEO_LATENTS:
        size["length"] = 1                   # one frame
    latent = g.out(g.add(latent_class, **size, batch_size=1), "LATENT")
    if scheduler == S.FLUX2_SCHEDULER:
        samples = _flux2_sampling(g, model, positive, negative_cond, latent, seed, steps, cfg, sampler, size)
    else:
        samples = g.out(g.add("KSampler", model=model, seed=int(seed), steps=int(steps), cfg=float(cfg),
                              sampler_name=sampler, scheduler=scheduler, positive=positive, negative=negative_cond,
                              latent_image=latent, denoise=1.0), "LATENT")
    image = g.out(g.add("VAEDecode", samples=samples, vae=vae), "IMAGE")
    g.add("SaveImage", images=image, filename_prefix=filename_prefix)
    return g.nodes


def _flux2_sampling(g: _Prompt, model, positive, negative, latent, seed, steps, cfg, sampler, size) -> list:
    """Flux.2's schedule depends on the image size, so it samples through SamplerCustomAdvanced
    (CFGGuider at cfg 1 skips the negative, as the dev model's BasicGuider does)."""
    noise = g.out(g.add("RandomNoise", noise_seed=int(seed)), "NOISE")
    guider = g.out(g.add("CFGGuider", model=model, positive=positive, negative=negative, cfg=float(cfg)), "GUIDER")
    chosen = g.out(g.add("KSamplerSelect", sampler_name=sampler), "SAMPLER")
    sigmas = g.out(g.add("Flux2Scheduler", steps=int(steps), width=size["width"], height=size["height"]), "SIGMAS")
    return g.out(g.add("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=chosen, sigmas=sigmas,
                       latent_image=latent), "LATENT")


def _loaders(g: _Prompt, t: dict):
    if t.get("checkpoint") is not None:
        ckpt = g.add("CheckpointLoaderSimple", ckpt_name=t["checkpoint"])
        return g.out(ckpt, "MODEL"), g.out(ckpt, "CLIP"), g.out(ckpt, "VAE")
    model = g.add("UNETLoader", unet_name=t["diffusion_model"], weight_dtype=t.get("weight_dtype") or "default")
    encoders = list(t["text_encoders"])
    loader = CLIP_LOADER[len(encoders)]
    if loader == "CLIPLoader":
        names = {"clip_name": encoders[0]}
    else:
        names = {f"clip_name{i + 1}": name for i, name in enumerate(encoders)}
    clip_type = S.CLIP_TYPES[t["family"]].get(len(encoders))
    clip = g.add(loader, **names, **({"type": clip_type} if clip_type else {}))
    vae = g.add("VAELoader", vae_name=t["vae"])
    return g.out(model, "MODEL"), g.out(clip, "CLIP"), g.out(vae, "VAE")


def family_graph(settings: dict, family: str, lora_name: str | None, prompt, *, seed: int,
                 filename_prefix: str) -> dict:
    """`preview_graph` with the family's resolved settings; `prompt` is a prompts.PreviewPrompt."""
    t = S.resolved(settings, family)
    return preview_graph(t, lora_name, weight=t["weight"], prompt=prompt.positive, negative=prompt.negative,
                         seed=seed, width=t["width"], height=t["height"], steps=t["steps"], cfg=t["cfg"],
                         sampler=t["sampler"], scheduler=t["scheduler"], filename_prefix=filename_prefix)


def ab_pair(settings: dict, family: str, lora_name: str, prompt, *, seed: int, filename_prefix: str) -> dict:
    """{"lora": graph, "baseline": the same graph and seed without the LoRA} (prefixes '<p>' and '<p>_base')."""
    return {"lora": family_graph(settings, family, lora_name, prompt, seed=seed, filename_prefix=filename_prefix),
            "baseline": family_graph(settings, family, None, prompt, seed=seed,
                                     filename_prefix=filename_prefix + "_base")}


def _check(t, lora_name, weight, prompt, negative, seed, width, height, steps, cfg, sampler, scheduler, prefix):
    problems = []
    if t.get("family") not in S.FAMILIES:
        problems.append(f"family: {t.get('family')!r} is not one of {', '.join(S.FAMILIES)}")
    elif scheduler == S.FLUX2_SCHEDULER and t["family"] != "flux2":
        problems.append(f"scheduler: '{S.FLUX2_SCHEDULER}' is for the flux2 family only")
    elif t.get("checkpoint") is None and len(t.get("text_encoders") or ()) not in S.CLIP_TYPES[t["family"]]:
        problems.append(f"text_encoders: {t['family']} takes {sorted(S.CLIP_TYPES[t['family']])} text encoder(s)")
    if lora_name is not None:
        problems += S._model_name("lora_name", lora_name)
    problems += S._number("weight", weight, -S.WEIGHT_MAX, S.WEIGHT_MAX)
    problems += S._text("prompt", prompt, S.MAX_TEXT) + S._text("negative", negative, S.MAX_TEXT)
    problems += S._text("prompt_prefix", t.get("prompt_prefix") or "", S.MAX_TEXT)
    if not S._is_int(seed) or not 0 <= seed < 1 << 64:
        problems.append(f"seed: must be a whole number from 0 to 2**64-1, not {seed!r}")
    problems += S._size("width", width) + S._size("height", height) + S._int("steps", steps, 1, S.STEPS_MAX)
    problems += S._number("cfg", cfg, 0.0, S.CFG_MAX) + S._word("sampler", sampler) + S._word("scheduler", scheduler)
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX:
        problems.append(f"filename_prefix: must be a string of at most {MAX_PREFIX} characters")
    else:
        problems += S._model_name("filename_prefix", prefix)
    if problems:
        raise InvalidDocument(problems)


# --- checks -----------------------------------------------------------------------------------------

def _links(prompt: dict):
    for node_id, node in prompt.items():
        for name, value in node.get("inputs", {}).items():
            if isinstance(value, list):
                yield node_id, name, value


def structure_problems(prompt: dict) -> list:
    """Every link names an existing node and one of its outputs (OUTPUTS); ids are strings."""
    out = []
    for node_id, node in prompt.items():
        if not isinstance(node_id, str) or node.get("class_type") not in OUTPUTS:
            out.append(f"node {node_id!r}: unknown class_type {node.get('class_type')!r}")
    for node_id, name, link in _links(prompt):
        if len(link) != 2 or not isinstance(link[0], str) or not isinstance(link[1], int):
            out.append(f"node {node_id} input {name}: a link is [node_id, output_index], not {link!r}")
        elif link[0] not in prompt:
            out.append(f"node {node_id} input {name}: links to missing node {link[0]}")
        elif not 0 <= link[1] < len(OUTPUTS.get(prompt[link[0]]["class_type"], ())):
            out.append(f"node {node_id} input {name}: node {link[0]} has no output {link[1]}")
    return out


MODEL_INPUTS = {"ckpt_name", "unet_name", "clip_name", "clip_name1", "clip_name2", "clip_name3", "clip_name4",
                "vae_name", "lora_name"}


def object_info_problems(prompt: dict, object_info: dict, *, check_models: bool = False) -> list:
    """What a server whose `/object_info` is given would reject: unknown class_type, a required input
    missing, an input it does not take, a link to a missing output or of the wrong type, a number out
    of range, a choice it does not offer. Model names are checked only with `check_models`."""
    out = []
    for node_id in sorted(prompt, key=lambda k: (len(k), k)):
        node = prompt[node_id]
        cls = node.get("class_type")
        info = object_info.get(cls)
        if info is None:
            out.append(f"node {node_id}: the server has no node '{cls}'")
            continue
        spec = info.get("input", {})
        required, optional = spec.get("required", {}) or {}, spec.get("optional", {}) or {}
        inputs = node.get("inputs", {})
        for name in required:
            if name not in inputs:
                out.append(f"node {node_id} ({cls}): required input '{name}' is missing")
        for name, value in inputs.items():
            declared = required.get(name, optional.get(name))
            if declared is None:
                out.append(f"node {node_id} ({cls}): the server's {cls} has no input '{name}'")
                continue
            out += _value_problems(prompt, object_info, node_id, cls, name, value, declared, check_models)
    return out


def _value_problems(prompt, object_info, node_id, cls, name, value, declared, check_models) -> list:
    kind = declared[0] if declared else None
    opts = declared[1] if len(declared) > 1 and isinstance(declared[1], dict) else {}
    where = f"node {node_id} ({cls}) input '{name}'"
    if isinstance(value, list):
        source = prompt.get(value[0]) if value and isinstance(value[0], str) else None
        if source is None:
            return [f"{where}: links to a missing node {value!r}"]
        outputs = object_info.get(source.get("class_type"), {}).get("output", [])
        if not isinstance(value[1], int) or not 0 <= value[1] < len(outputs):
            return [f"{where}: node {value[0]} ({source.get('class_type')}) has no output {value[1]}"]
        if isinstance(kind, str) and kind != "*" and outputs[value[1]] != kind:
            return [f"{where}: wants {kind}, node {value[0]} output {value[1]} is {outputs[value[1]]}"]
        return []
    choices = kind if isinstance(kind, list) else opts.get("options") if kind == "COMBO" else None
    if choices is not None:
        if name in MODEL_INPUTS and not check_models:
            return []
        return [] if value in choices else [f"{where}: {value!r} is not one of the server's choices"]
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return [f"{where}: {value!r} is not a number"]
        if "min" in opts and value < opts["min"] or "max" in opts and value > opts["max"]:
            return [f"{where}: {value} is outside {opts.get('min')}..{opts.get('max')}"]
    if kind == "STRING" and not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    return []
