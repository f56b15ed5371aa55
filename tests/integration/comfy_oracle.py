#!/usr/bin/env python
"""Ask a REAL ComfyUI (and optionally the real Inspire Pack) how LoRA files map.

This is a standalone script, not a pytest module.  Run it with the Python
interpreter of an environment that has ComfyUI's dependencies installed (the
"peers" venv), never with the project's own test interpreter:

    python comfy_oracle.py --comfyui DIR [--inspire DIR] --arch ARCH \
        [--vector "1,0.5,..."] [--no-convert] FILE.safetensors [FILE ...]

ARCH: sd1 sd2 sdxl sd3 flux chroma wan wan13 hunyuan_video qwen_image, and (ComfyUI
0.33.0 classes) flux2 flux2_klein4b flux2_klein9b wan22_5b z_image lumina2 chroma_radiance
hunyuan_video15 ltx2 kandinsky5 krea2 anima hunyuan_image ernie_image omnigen2

What it does (one architecture per process):

* builds a weightless skeleton of the architecture on torch's ``meta`` device
  with ComfyUI's own classes: a unet config (round-tripped through
  ``comfy.model_detection.detect_unet_config`` on the skeleton's own state
  dict, so the config in use is the one ComfyUI derives; a parameter that the
  installed diffusion-model class or its parameter dataclass requires and the
  reference config lacks, i.e. one added after 0.3.64 such as FluxParams'
  ``txt_ids_dims``, is first set to "feature absent", see
  ``_complete_unet_config``), the model config
  from ``model_config_from_unet_config``, ``model_config.get_model`` under
  ``torch.device("meta")`` wrapped in a real ``ModelPatcher``, and the text
  encoder from ``model_config.clip_target()`` as ``comfy.sd.CLIP`` with
  ``initial_device=meta`` (tokenizers are replaced by a stub: they play no
  part in key mapping and some need data files, e.g. WAN's UMT5);
* for every file: ComfyUI's key map (``model_lora_keys_unet`` +
  ``model_lora_keys_clip`` on fresh dicts), ``lora_convert.convert_lora``
  (unless ``--no-convert``) and ``comfy.lora.load_lora``; the keys
  ``load_lora`` did not consume (its own "lora key not loaded" set) and the
  patch keys that the model / text encoder patchers accept (as
  ``comfy.sd.load_lora_for_models`` does);
* with ``--inspire DIR``: runs Inspire's own ``LoraLoaderBlockWeight.load_lbw``
  / ``load_lora_for_models`` on the skeleton with a vector of distinct values
  and reads back which vector position each patch key received; with
  ``--vector`` it also reports the strengths Inspire gives for that vector.

Prints ONE JSON document on stdout; all log output goes to stderr.
"""
import argparse
import contextlib
import json
import logging
import os
import resource
import sys
import time

ARCHS = ("sd1", "sd2", "sdxl", "sd3", "flux", "chroma", "wan", "wan13",
         "hunyuan_video", "qwen_image", "flux2", "flux2_klein4b", "flux2_klein9b", "wan22_5b",
         "z_image", "lumina2", "chroma_radiance", "hunyuan_video15", "ltx2", "kandinsky5", "krea2", "anima",
         "hunyuan_image", "ernie_image", "omnigen2")

# unet configs in the form comfy.model_detection.detect_unet_config (0.3.64) returns
# them for the reference checkpoints (they are fed back through detection on
# the skeleton's state dict before use).
_UNET_SD1 = {
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "out_channels": 4,
    "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768,
    "use_temporal_resblock": False, "use_temporal_attention": False,
}
_UNET_SD2 = dict(_UNET_SD1, use_linear_in_transformer=True, context_dim=1024)
_UNET_SDXL = {
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True,
    "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816,
    "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 2, 2, 10, 10],
    "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "channel_mult": [1, 2, 4], "transformer_depth_middle": 10,
    "use_linear_in_transformer": True, "context_dim": 2048,
    "use_temporal_resblock": False, "use_temporal_attention": False,
}
_UNET_SD3_MEDIUM = {
    "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 24,
    "input_size": None, "adm_in_channels": 2048,
    "context_embedder_config": {"target": "torch.nn.Linear",
                                "params": {"in_features": 4096, "out_features": 1536}},
    "num_patches": 36864, "pos_embed_max_size": 192,
    "pos_embed_scaling_factor": None, "x_block_self_attn_layers": [],
}
_FLUX_COMMON = {
    "patch_size": 2, "context_in_dim": 4096, "hidden_size": 3072, "mlp_ratio": 4.0,
    "num_heads": 24, "depth": 19, "depth_single_blocks": 38,
    "axes_dim": [16, 56, 56], "theta": 10000, "qkv_bias": True,
}
_UNET_FLUX_DEV = dict(_FLUX_COMMON, image_model="flux", in_channels=16, out_channels=16,
                      vec_in_dim=768, guidance_embed=True)
_UNET_CHROMA = dict(_FLUX_COMMON, image_model="chroma", in_channels=64, out_channels=64,
                    in_dim=64, out_dim=3072, hidden_dim=5120, n_layers=5)
_WAN_COMMON = {
    "image_model": "wan2.1", "out_dim": 16, "patch_size": (1, 2, 2), "freq_dim": 256,
    "window_size": (-1, -1), "qk_norm": True, "cross_attn_norm": True, "eps": 1e-6,
    "in_dim": 16, "model_type": "t2v",
}
_UNET_WAN_14B = dict(_WAN_COMMON, dim=5120, num_heads=40, ffn_dim=13824, num_layers=40)
_UNET_WAN_1_3B = dict(_WAN_COMMON, dim=1536, num_heads=12, ffn_dim=8960, num_layers=30)
_UNET_HUNYUAN_VIDEO = {
    "image_model": "hunyuan_video", "in_channels": 16, "patch_size": [1, 2, 2],
    "out_channels": 16, "vec_in_dim": 768, "axes_dim": [16, 56, 56], "meanflow": False,
    "context_in_dim": 4096, "hidden_size": 3072, "mlp_ratio": 4.0, "num_heads": 24,
    "depth": 20, "depth_single_blocks": 40, "theta": 256, "qkv_bias": True,
    "byt5": False, "guidance_embed": True,
}
_UNET_QWEN_IMAGE = {"image_model": "qwen_image", "in_channels": 64, "num_layers": 60}
# ComfyUI 0.33.0 families (detect_unet_config's form for the reference checkpoints; the classes
# do not exist in 0.3.64, where these architectures are reported as missing).
_FLUX2_COMMON = {
    "image_model": "flux2", "axes_dim": [32, 32, 32, 32], "mlp_ratio": 3.0, "theta": 2000,
    "out_channels": 128, "global_modulation": True, "mlp_silu_act": True, "qkv_bias": False,
    "ops_bias": False, "default_ref_method": "index", "ref_index_scale": 10.0, "txt_ids_dims": [3],
    "patch_size": 1, "in_channels": 128, "vec_in_dim": None, "yak_mlp": False, "txt_norm": False,
}
_UNET_FLUX2_DEV = dict(_FLUX2_COMMON, hidden_size=6144, num_heads=48, context_in_dim=15360, depth=8,
                       depth_single_blocks=48, guidance_embed=True)
_UNET_FLUX2_KLEIN4B = dict(_FLUX2_COMMON, hidden_size=3072, num_heads=24, context_in_dim=7680, depth=5,
                           depth_single_blocks=20, guidance_embed=False)
_UNET_FLUX2_KLEIN9B = dict(_FLUX2_COMMON, hidden_size=4096, num_heads=32, context_in_dim=12288, depth=8,
                           depth_single_blocks=24, guidance_embed=False)
_UNET_WAN22_5B = dict(_WAN_COMMON, dim=3072, num_heads=24, ffn_dim=14336, num_layers=30, out_dim=48, in_dim=48)
_LUMINA_COMMON = {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "qk_norm": True}
_UNET_Z_IMAGE = dict(_LUMINA_COMMON, dim=3840, cap_feat_dim=2560, n_layers=30, n_heads=30, n_kv_heads=30,
                     axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512], rope_theta=256.0,
                     ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True, time_scale=1000.0)
# in 0.3.64's form (0.33.0's detection adds rope_theta / ffn_dim_multiplier: the round trip fills them)
_UNET_LUMINA2 = dict(_LUMINA_COMMON, dim=2304, cap_feat_dim=2304, n_layers=26, n_heads=24, n_kv_heads=8,
                     axes_dims=[32, 32, 32], axes_lens=[300, 512, 512])
_UNET_CHROMA_RADIANCE = dict(_FLUX_COMMON, image_model="chroma_radiance", in_channels=3, out_channels=3,
                             patch_size=16, in_dim=64, out_dim=3072, hidden_dim=5120, n_layers=5,
                             nerf_hidden_size=64, nerf_mlp_ratio=4, nerf_depth=4, nerf_max_freqs=8,
                             nerf_tile_size=512, nerf_final_head_type="conv", use_x0=False,
                             use_sequential_txt_ids=False)
_UNET_HUNYUAN_VIDEO15 = dict(_UNET_HUNYUAN_VIDEO, in_channels=65, patch_size=[1, 1, 1], out_channels=32,
                             vec_in_dim=None, meanflow=False, context_in_dim=3584, hidden_size=2048,
                             num_heads=16, depth=54, depth_single_blocks=0, byt5=True, guidance_embed=False,
                             use_cond_type_embedding=True, vision_in_dim=1152, meanflow_sum=True)
_UNET_LTX2 = {"image_model": "ltxav", "num_layers": 48, "attention_head_dim": 128, "cross_attention_dim": 4096,
              "use_keyframes_abs_pos_embedding": False}
_UNET_KANDINSKY5 = {"image_model": "kandinsky5", "model_dim": 1792, "axes_dims": (16, 24, 24), "time_dim": 512,
                    "ff_dim": 7168, "visual_embed_dim": 132, "num_text_blocks": 2, "num_visual_blocks": 32}
_UNET_KREA2 = {"image_model": "krea2", "features": 6144, "channels": 16, "patch": 2, "layers": 28, "heads": 48,
               "kvheads": 12, "txtlayers": 12, "txtdim": 2560}
_UNET_HUNYUAN_IMAGE = dict(_UNET_HUNYUAN_VIDEO, in_channels=64, patch_size=[1, 1], out_channels=64, vec_in_dim=None,
                           axes_dim=[64, 64], context_in_dim=3584, hidden_size=3584, num_heads=28, byt5=True,
                           guidance_embed=False, use_cond_type_embedding=False, vision_in_dim=None, meanflow_sum=False)
# Anima 2B as detect_unet_config reads a Cosmos-Predict2 checkpoint that has an LLM adapter.
_UNET_ANIMA = {"image_model": "anima", "max_img_h": 240, "max_img_w": 240, "max_frames": 128, "in_channels": 16,
               "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1, "model_channels": 2048,
               "concat_padding_mask": True, "crossattn_emb_channels": 1024, "pos_emb_cls": "rope3d",
               "pos_emb_learnable": True, "pos_emb_interpolation": "crop", "min_fps": 1, "max_fps": 30,
               "use_adaln_lora": True, "adaln_lora_dim": 256, "num_blocks": 28, "num_heads": 16,
               "extra_per_block_abs_pos_emb": False, "rope_h_extrapolation_ratio": 4.0,
               "rope_w_extrapolation_ratio": 4.0, "rope_t_extrapolation_ratio": 1.0,
               "extra_h_extrapolation_ratio": 1.0, "extra_w_extrapolation_ratio": 1.0,
               "extra_t_extrapolation_ratio": 1.0, "rope_enable_fps_modulation": False}

UNET_CONFIGS = {
    "sd1": (_UNET_SD1, "SD 1.5"),
    "sd2": (_UNET_SD2, "SD 2.x"),
    "sdxl": (_UNET_SDXL, "SDXL base"),
    "sd3": (_UNET_SD3_MEDIUM, "SD3 medium (hidden 1536, depth 24)"),
    "flux": (_UNET_FLUX_DEV, "Flux.1 dev (19 double, 38 single, guidance_embed)"),
    "chroma": (_UNET_CHROMA, "Chroma (19 double, 38 single)"),
    "wan": (_UNET_WAN_14B, "Wan 2.1 T2V 14B (dim 5120, 40 blocks)"),
    "wan13": (_UNET_WAN_1_3B, "Wan 2.1 T2V 1.3B (dim 1536, 30 blocks)"),
    "hunyuan_video": (_UNET_HUNYUAN_VIDEO, "HunyuanVideo T2V (20 double, 40 single)"),
    "qwen_image": (_UNET_QWEN_IMAGE, "Qwen-Image (60 blocks)"),
    "flux2": (_UNET_FLUX2_DEV, "Flux.2 dev (hidden 6144, 8 double, 48 single)"),
    "flux2_klein4b": (_UNET_FLUX2_KLEIN4B, "Flux.2 Klein 4B (hidden 3072, 5 double, 20 single)"),
    "flux2_klein9b": (_UNET_FLUX2_KLEIN9B, "Flux.2 Klein 9B (hidden 4096, 8 double, 24 single)"),
    "wan22_5b": (_UNET_WAN22_5B, "Wan 2.2 TI2V 5B (dim 3072, 30 blocks)"),
    "z_image": (_UNET_Z_IMAGE, "Z-Image (Lumina2 class, dim 3840, 30 layers)"),
    "lumina2": (_UNET_LUMINA2, "Lumina Image 2.0 (dim 2304, 26 layers)"),
    "chroma_radiance": (_UNET_CHROMA_RADIANCE, "Chroma Radiance (19 double, 38 single, NeRF head)"),
    "hunyuan_video15": (_UNET_HUNYUAN_VIDEO15, "HunyuanVideo 1.5 (hidden 2048, 54 double blocks)"),
    "ltx2": (_UNET_LTX2, "LTX-2 audio-video (48 blocks, hidden 4096)"),
    "kandinsky5": (_UNET_KANDINSKY5, "Kandinsky 5 video lite (dim 1792, 32 visual blocks)"),
    "krea2": (_UNET_KREA2, "Krea 2 (features 6144, 28 blocks)"),
    "hunyuan_image": (_UNET_HUNYUAN_IMAGE, "HunyuanImage 2.1 (hidden 3584, 20 double, 40 single)"),
    "ernie_image": ({"image_model": "ernie"}, "Ernie-Image (hidden 4096, 36 layers: the class defaults)"),
    "omnigen2": ({"image_model": "omnigen2", "axes_dim_rope": [40, 40, 40], "axes_lens": [1024, 1664, 1664],
                  "ffn_dim_multiplier": None, "hidden_size": 2520, "in_channels": 16, "multiple_of": 256,
                  "norm_eps": 1e-05, "num_attention_heads": 21, "num_kv_heads": 7, "num_layers": 32,
                  "num_refiner_layers": 2, "out_channels": None, "patch_size": 2, "text_feat_dim": 2048,
                  "timestep_scale": 1000.0}, "OmniGen2 (hidden 2520, 32 layers)"),
    "anima": (_UNET_ANIMA, "Anima 2B (Cosmos-Predict2 blocks, 28, with the LLM adapter)"),
}


def _log(msg):
    print("[comfy_oracle] " + msg, file=sys.stderr, flush=True)


def _peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


class _LogCapture(logging.Handler):
    """Collects ComfyUI's own log records during one call."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:  # pragma: no cover - never let logging break the oracle
            pass


@contextlib.contextmanager
def _capture_logs():
    handler = _LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    try:
        yield handler.messages
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _first(key):
    return key[0] if isinstance(key, tuple) else key


class _NoTokenizer:
    """Stands in for a text-encoder tokenizer (irrelevant to key mapping)."""

    def __init__(self, embedding_directory=None, tokenizer_data={}, **kwargs):
        pass

    def state_dict(self):
        return {}


def _setup_comfy(comfy_dir):
    comfy_dir = os.path.abspath(comfy_dir)
    if comfy_dir not in sys.path:
        sys.path.insert(0, comfy_dir)
    saved_argv = sys.argv
    sys.argv = [os.path.join(comfy_dir, "main.py"), "--cpu"]
    try:
        import comfy.options
        comfy.options.enable_args_parsing()
        import comfy.cli_args  # noqa: F401  (parses --cpu now)
        # ComfyUI's top-level package "utils" must be imported before "nodes",
        # which puts ComfyUI/comfy first on sys.path (main.py does the same).
        import utils.install_util  # noqa: F401
        import utils.extra_config  # noqa: F401
        import torch
        import comfy.model_management
        import comfy.model_detection
        import comfy.model_patcher
        import comfy.sd
        import comfy.lora
        import comfy.lora_convert
        import comfy.utils
    finally:
        sys.argv = saved_argv
    return torch


def _text_encoder_state_dict_hint(torch, arch):
    """Fake text-encoder keys so clip_target() picks the full encoder set."""
    meta = torch.device("meta")
    if arch == "sd3":
        pref = "text_encoders."
        return {
            pref + "clip_l.transformer.text_model.final_layer_norm.weight": torch.empty(768, device=meta),
            pref + "clip_g.transformer.text_model.final_layer_norm.weight": torch.empty(1280, device=meta),
            pref + "t5xxl.transformer.encoder.final_layer_norm.weight": torch.empty(4096, device=meta, dtype=torch.float16),
        }
    llm = {"flux2": "mistral3_24b", "flux2_klein4b": "qwen3_4b", "flux2_klein9b": "qwen3_8b"}.get(arch)
    if llm:  # Flux.2 picks its text encoder from the checkpoint's keys (no default)
        return {"text_encoders.%s.transformer.model.norm.weight" % llm: torch.empty(16, device=meta, dtype=torch.bfloat16)}
    return {}


def _absent(annotation):
    """The "feature absent" value of a parameter declared with ``annotation``:
    False for a flag, an empty list / tuple for a list of extras, else None
    (no such input layer)."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    return {"bool": False, "list": [], "tuple": ()}.get(name)


class _UnetModelFound(Exception):
    pass


def _diffusion_model_class(model_config, torch):
    """The class ComfyUI instantiates as ``diffusion_model`` for ``model_config``.

    ``get_model`` hands it to ``BaseModel.__init__`` as ``unet_model``; that call is
    intercepted (and aborted before anything is built), then the original restored.
    """
    import inspect
    import comfy.model_base

    original = comfy.model_base.BaseModel.__init__
    signature = inspect.signature(original)
    found = []

    def record(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        found.append(bound.arguments["unet_model"])
        raise _UnetModelFound()

    comfy.model_base.BaseModel.__init__ = record
    try:
        with torch.device("meta"):
            model_config.get_model({}, "", device=torch.device("meta"))
    except _UnetModelFound:
        pass
    finally:
        comfy.model_base.BaseModel.__init__ = original
    if not found:
        raise RuntimeError("%s.get_model never reached BaseModel.__init__" % type(model_config).__name__)
    return found[0]


def _required_parameters(unet_class):
    """{name: annotation} of what the installed diffusion-model class requires: the
    parameters of its ``__init__`` without a default, and the fields without a
    default of every dataclass that ``__init__`` builds its parameters with
    (Flux's ``FluxParams``, Chroma's ``ChromaParams``, ``HunyuanVideoParams``)."""
    import dataclasses
    import inspect

    init = unet_class.__init__
    required = {}
    for name, param in inspect.signature(init).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            required[name] = param.annotation
    try:
        referenced = inspect.getclosurevars(init).globals.values()
    except TypeError:
        referenced = ()
    for obj in referenced:
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            for field in dataclasses.fields(obj):
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    required[field.name] = field.type
    return required


def _complete_unet_config(torch, unet_config):
    """The reference config, plus every parameter the INSTALLED ComfyUI requires
    that it lacks, set to "feature absent" (False / [] / None by its declared
    type).  The reference checkpoints predate the features those parameters
    describe (e.g. FluxParams.txt_ids_dims, HunyuanVideo 1.5's vision_in_dim);
    whatever is guessed here is checked by the round trip through
    ``detect_unet_config`` in build_skeleton, which overrides it.
    Returns (completed unet config, {filled name: value})."""
    import comfy.model_detection

    model_config = comfy.model_detection.model_config_from_unet_config(dict(unet_config))
    if model_config is None:
        raise RuntimeError("ComfyUI matched no model class for %r" % (unet_config,))
    required = _required_parameters(_diffusion_model_class(model_config, torch))
    filled = {}
    for name, annotation in sorted(required.items()):
        if name not in model_config.unet_config:
            filled[name] = _absent(annotation)
    if not filled:
        return unet_config, filled
    return dict(unet_config, **filled), filled


def build_skeleton(torch, arch):
    import comfy.model_detection
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models_base

    meta = torch.device("meta")
    cpu = torch.device("cpu")
    info = {}
    unet_config = dict(UNET_CONFIGS[arch][0])
    info["variant"] = UNET_CONFIGS[arch][1]

    def make(cfg):
        model_config = comfy.model_detection.model_config_from_unet_config(dict(cfg))
        if model_config is None:
            raise RuntimeError("ComfyUI matched no model class for %r" % (cfg,))
        with torch.device("meta"):
            model = model_config.get_model({}, "", device=meta)
        return model_config, model

    unet_config, filled = _complete_unet_config(torch, unet_config)
    if filled:
        _log("the installed ComfyUI also requires %s; set to 'absent': %r" % (sorted(filled), filled))
        info["filled_required_parameters"] = filled
    model_config, model = make(unet_config)
    # Round trip: let ComfyUI derive the unet config from the skeleton itself.
    sd = model.diffusion_model.state_dict()
    detected = comfy.model_detection.detect_unet_config(sd, "")
    detected_config = comfy.model_detection.model_config_from_unet_config(dict(detected), sd) if detected else None
    info["detected_class"] = type(detected_config).__name__ if detected_config is not None else None
    if detected is not None and detected != unet_config:
        if detected_config is None or type(detected_config) is not type(model_config):
            raise RuntimeError("skeleton re-detected as %s, built as %s" % (
                info["detected_class"], type(model_config).__name__))
        diff = sorted(k for k in set(detected) | set(unet_config) if detected.get(k) != unet_config.get(k))
        _log("rebuilding from ComfyUI-detected unet config (differs in %s)" % diff)
        del model
        model_config, model = make(detected)
        info["rebuilt_from_detected_config"] = diff
    del sd
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)

    clip = None
    target = model_config.clip_target(state_dict=_text_encoder_state_dict_hint(torch, arch))
    if target is not None:
        stub = comfy.supported_models_base.ClipTarget(_NoTokenizer, target.clip)
        stub.params = dict(target.params)
        clip = comfy.sd.CLIP(stub, model_options={"initial_device": meta})
        info["clip"] = type(clip.cond_stage_model).__name__ + " (tokenizer stubbed)"
    else:
        info["clip"] = None
    return model_config, patcher, clip, info


def comfy_mapping(patcher, clip, lora_sd, convert):
    import comfy.lora
    import comfy.lora_convert

    key_map = comfy.lora.model_lora_keys_unet(patcher.model, {})
    if clip is not None:
        key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    sd = comfy.lora_convert.convert_lora(dict(lora_sd)) if convert else dict(lora_sd)
    converted = sorted(sd.keys()) != sorted(lora_sd.keys())
    prefix = "lora key not loaded: "
    with _capture_logs() as messages:
        loaded = comfy.lora.load_lora(sd, key_map, log_missing=True)
    not_loaded = {m[len(prefix):] for m in messages if m.startswith(prefix)}
    # load_lora warns exactly for the file keys that it did not consume; keep only
    # real keys of the (converted) dict in case any other message looks alike.
    unmapped = sorted(k for k in sd.keys() if k in not_loaded)

    model_clone = patcher.clone()
    accepted_model = set(model_clone.add_patches(loaded, 1.0))
    accepted_clip = set()
    if clip is not None:
        clip_clone = clip.clone()
        accepted_clip = set(clip_clone.add_patches(loaded, 1.0))
    not_applied = sorted({_first(k) for k in loaded if k not in accepted_model and k not in accepted_clip})
    return {
        "lora_keys": len(lora_sd),
        "converted": converted,
        "unmapped_keys": unmapped,
        "patch_keys": len(loaded),
        "patched_model_keys": sorted({_first(k) for k in accepted_model}),
        "patched_clip_keys": sorted({_first(k) for k in accepted_clip}),
        "not_applied_keys": not_applied,
    }


# ---------------------------------------------------------------- Inspire ---

def _import_inspire(inspire_dir):
    inspire_dir = os.path.abspath(inspire_dir)
    if inspire_dir not in sys.path:
        sys.path.insert(0, inspire_dir)
    # Importing only the module (not the pack's __init__, which loads every node).
    import inspire.lora_block_weight as lbw
    return lbw


_GROUPS = (("input_blocks.", "IN"), ("middle_block.", "MID"), ("output_blocks.", "OUT"),
           ("double_blocks.", "DOUBLE"), ("single_blocks.", "SINGLE"))


def _block_name(lbw, key):
    """Name of the block Inspire files a key under (same prefix test and the
    same index parser, Inspire's own parse_unet_num)."""
    k_unet = _first(key)[len("diffusion_model."):]
    for prefix, name in _GROUPS:
        if k_unet.startswith(prefix):
            return "%s%d" % (name, lbw.parse_unet_num(k_unet[len(prefix):len(prefix) + 2]))
    return "BASE"


def _strengths(patcher):
    out = {}
    for key, plist in patcher.patches.items():
        # entry = (strength_patch, patch, strength_model, offset, function);
        # Inspire passes strength_model * ratio as strength_patch.
        vals = [float(p[0]) for p in plist]
        out[key] = vals[0] if len(set(vals)) == 1 else vals
    return out


def inspire_positions(lbw, patcher, clip, lora_sd):
    L = lbw.LoraLoaderBlockWeight
    n = max(12, len(lora_sd) + 2)
    probe = ",".join(str(i + 1) for i in range(n))  # entry i -> ratio i+1 (never 0)
    block_weights, muted, populated = L.load_lbw(patcher, clip, lora_sd, False, 0, 4.0, 1.0, probe)
    by_index = {}
    for key, (_patch, ratio) in block_weights.items():
        idx = int(round(float(ratio))) - 1
        by_index.setdefault(idx, [])
        name = _block_name(lbw, key)
        if name not in by_index[idx]:
            by_index[idx].append(name)
    count = len(populated.split(",")) if populated else 0
    positions = []
    for i in range(count):
        names = by_index.get(i, ["BASE"] if i == 0 else ["?"])
        positions.append("+".join(names))
    # Also apply Inspire's patching (model/clip routing) to learn which of its
    # patches land nowhere (e.g. diffusion keys containing "text"/"encoder").
    new_model, new_clip, _pv = L.load_lora_for_models(patcher, clip, lora_sd, 1.0, 1.0, False, 0, 4.0, 1.0, probe)
    applied = set(new_model.patches.keys()) | set(new_clip.patcher.patches.keys() if new_clip is not None else ())
    dropped = sorted({_first(k) for k in block_weights} - applied)
    return positions, populated, dropped, len(block_weights)


def inspire_vector(lbw, patcher, clip, lora_sd, vector):
    L = lbw.LoraLoaderBlockWeight
    _bw, muted, _pv = L.load_lbw(patcher, clip, lora_sd, False, 0, 4.0, 1.0, vector)
    new_model, new_clip, populated = L.load_lora_for_models(patcher, clip, lora_sd, 1.0, 1.0, False, 0, 4.0, 1.0, vector)
    strengths = {"model": _strengths(new_model),
                 "clip": _strengths(new_clip.patcher) if new_clip is not None else {}}
    return populated, strengths, sorted({_first(k) for k in muted})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", required=True, help="ComfyUI source tree")
    ap.add_argument("--inspire", help="ComfyUI-Inspire-Pack source tree")
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--vector", help="run Inspire with this block_vector and report strengths")
    ap.add_argument("--no-convert", action="store_true",
                    help="skip comfy.lora_convert.convert_lora (Inspire never converts)")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    if args.vector is not None and not args.inspire:
        ap.error("--vector needs --inspire")

    real_stdout = sys.stdout
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    result = {}
    with contextlib.redirect_stdout(sys.stderr):
        t0 = time.time()
        torch = _setup_comfy(args.comfyui)
        import comfy.utils
        import comfyui_version
        lbw = _import_inspire(args.inspire) if args.inspire else None
        t_import = time.time() - t0
        t1 = time.time()
        try:
            model_config, patcher, clip, info = build_skeleton(torch, args.arch)
        except (RuntimeError, TypeError) as exc:
            # an architecture newer than the installed ComfyUI: no class (Flux.2 on 0.3.64), or a
            # class that predates the family's parameters (HunyuanVideo 1.5, Z-Image on 0.3.64)
            if "matched no model class" in str(exc):
                why = "has no model class for"
            elif "unexpected keyword argument" in str(exc):
                why = "has a model class that predates (%s)" % str(exc).split("unexpected keyword argument")[-1].strip()
                why += " the family"
            else:
                raise
            result = {"comfyui_version": comfyui_version.__version__, "arch": args.arch,
                      "missing_model_class": "ComfyUI %s %s %s" % (
                          comfyui_version.__version__, why, UNET_CONFIGS[args.arch][1])}
            json.dump(result, real_stdout, indent=1)
            real_stdout.write("\n")
            return 0
        t_build = time.time() - t1
        _log("skeleton %s built in %.1f s (imports %.1f s), peak RSS %.0f MB"
             % (type(model_config).__name__, t_build, t_import, _peak_rss_mb()))

        files = {}
        for path in args.files:
            tf = time.time()
            lora_sd = comfy.utils.load_torch_file(path, safe_load=True)
            entry = comfy_mapping(patcher, clip, lora_sd, convert=not args.no_convert)
            entry["inspire_positions"] = None
            entry["populated_vector"] = None
            if lbw is not None:
                positions, populated, dropped, n_patches = inspire_positions(lbw, patcher, clip, lora_sd)
                entry["inspire_positions"] = positions
                entry["populated_vector"] = populated
                entry["inspire_patch_keys"] = n_patches
                entry["inspire_unapplied_keys"] = dropped
                if args.vector is not None:
                    pv, strengths, muted = inspire_vector(lbw, patcher, clip, lora_sd, args.vector)
                    entry["populated_vector"] = pv
                    entry["patch_strengths"] = strengths
                    entry["inspire_muted_keys"] = muted
            entry["seconds"] = round(time.time() - tf, 2)
            files[path] = entry
            del lora_sd

        result = {
            "comfyui_version": comfyui_version.__version__,
            "arch": args.arch,
            "model_class": type(model_config).__name__,
            "model_variant": info["variant"],
            "detected_class": info["detected_class"],
            "clip": info["clip"],
            "inspire": bool(lbw),
            "timing": {"imports_s": round(t_import, 2), "skeleton_s": round(t_build, 2),
                       "total_s": round(time.time() - t0, 2)},
            "peak_rss_mb": _peak_rss_mb(),
            "files": files,
        }
        if "rebuilt_from_detected_config" in info:
            result["rebuilt_from_detected_config"] = info["rebuilt_from_detected_config"]
        if "filled_required_parameters" in info:
            result["filled_required_parameters"] = info["filled_required_parameters"]
    json.dump(result, real_stdout, indent=1, sort_keys=False)
    real_stdout.write("\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
