"""Small but realistic LoRA files: real key names, real layer shapes, tiny rank.

The project's own fixture builder, used by the tests, the benchmarks and `lora-atlas demo`.
Each architecture lists its adaptable layers as (dotted model path, out, in, kernel); a naming
scheme turns a path into the prefix a trainer writes (kohya, PEFT, ComfyUI, OneTrainer, ...), and
an adapter turns one layer into its tensors (LoRA, LoCon, LoHa, LoKr, GLoRA, OFT, BOFT, diff, DoRA).
`FIXTURES` names the combinations found in the wild.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import numpy as np

from . import safetensors_writer

# ---------------------------------------------------------------------------------------------
# Layers per architecture: (dotted path inside the model, out_features, in_features, kernel)


def _transformer_block(prefix, ch, ctx, attn2=True):
    out = [(f"{prefix}.attn1.to_{p}", ch, ch, 1) for p in ("q", "k", "v")]
    out.append((f"{prefix}.attn1.to_out.0", ch, ch, 1))
    if attn2:
        out += [(f"{prefix}.attn2.to_q", ch, ch, 1), (f"{prefix}.attn2.to_k", ch, ctx, 1),
                (f"{prefix}.attn2.to_v", ch, ctx, 1), (f"{prefix}.attn2.to_out.0", ch, ch, 1)]
    out += [(f"{prefix}.ff.net.0.proj", ch * 8, ch, 1), (f"{prefix}.ff.net.2", ch, ch * 4, 1)]
    return out


def _attention(prefix, ch, ctx, depth, conv_proj):
    k = "conv1x1" if conv_proj else 1
    layers = [(f"{prefix}.proj_in", ch, ch, k)]
    for t in range(depth):
        layers += _transformer_block(f"{prefix}.transformer_blocks.{t}", ch, ctx)
    layers.append((f"{prefix}.proj_out", ch, ch, k))
    return layers


def _resnet_diffusers(prefix, cin, cout):
    layers = [(f"{prefix}.conv1", cout, cin, 3), (f"{prefix}.time_emb_proj", cout, 1280, 1),
              (f"{prefix}.conv2", cout, cout, 3)]
    if cin != cout:
        layers.append((f"{prefix}.conv_shortcut", cout, cin, "conv1x1"))
    return layers


def _resnet_compvis(prefix, cin, cout):
    layers = [(f"{prefix}.in_layers.2", cout, cin, 3), (f"{prefix}.emb_layers.1", cout, 1280, 1),
              (f"{prefix}.out_layers.3", cout, cout, 3)]
    if cin != cout:
        layers.append((f"{prefix}.skip_connection", cout, cin, "conv1x1"))
    return layers


# SD1/SD2 UNet (diffusers names, as kohya writes them): channels per level, skip widths.
_SD_DOWN = [(320, 320), (320, 640), (640, 1280), (1280, 1280)]
_SD_UP_IN = [[2560, 2560, 2560], [2560, 2560, 1920], [1920, 1280, 960], [960, 640, 640]]
_SD_UP_OUT = [1280, 1280, 640, 320]


def sd_unet_layers(version: str, conv: bool):
    """SD1 (context 768, 1x1 conv proj) or SD2 (context 1024, linear proj), diffusers paths."""
    ctx = 768 if version == "sd1" else 1024
    conv_proj = version == "sd1"
    layers = []
    for level, (cin, cout) in enumerate(_SD_DOWN):
        for i in range(2):
            if conv:
                layers += _resnet_diffusers(f"down_blocks.{level}.resnets.{i}", cin if i == 0 else cout, cout)
            if level < 3:
                layers += _attention(f"down_blocks.{level}.attentions.{i}", cout, ctx, 1, conv_proj)
        if conv and level < 3:
            layers.append((f"down_blocks.{level}.downsamplers.0.conv", cout, cout, 3))
    if conv:
        layers += _resnet_diffusers("mid_block.resnets.0", 1280, 1280)
    layers += _attention("mid_block.attentions.0", 1280, ctx, 1, conv_proj)
    if conv:
        layers += _resnet_diffusers("mid_block.resnets.1", 1280, 1280)
    for level in range(4):
        cout = _SD_UP_OUT[level]
        for i in range(3):
            if conv:
                layers += _resnet_diffusers(f"up_blocks.{level}.resnets.{i}", _SD_UP_IN[level][i], cout)
            if level > 0:
                layers += _attention(f"up_blocks.{level}.attentions.{i}", cout, ctx, 1, conv_proj)
        if conv and level < 3:
            layers.append((f"up_blocks.{level}.upsamplers.0.conv", cout, cout, 3))
    return layers


# SDXL UNet in compvis/SGM names (kohya SDXL): block -> (in, out, attention depth or 0)
_SDXL_IN = {1: (320, 320, 0), 2: (320, 320, 0), 4: (320, 640, 2), 5: (640, 640, 2), 7: (640, 1280, 10), 8: (1280, 1280, 10)}
_SDXL_OUT = {0: (2560, 1280, 10), 1: (2560, 1280, 10), 2: (1920, 1280, 10), 3: (1920, 640, 2),
             4: (1280, 640, 2), 5: (960, 640, 2), 6: (960, 320, 0), 7: (640, 320, 0), 8: (640, 320, 0)}


def sdxl_unet_layers(conv: bool, blocks=None):
    """SDXL attention (and with `conv`, ResBlock/down/upsample) layers; `blocks` keeps a subset
    of ("IN", n) / ("MID", n) / ("OUT", n) for partial files."""
    def keep(group, n):
        return blocks is None or (group, n) in blocks

    layers = []
    for n, (cin, cout, depth) in _SDXL_IN.items():
        if conv and keep("IN", n):
            layers += _resnet_compvis(f"input_blocks.{n}.0", cin, cout)
        if depth and keep("IN", n):
            layers += _attention(f"input_blocks.{n}.1", cout, 2048, depth, False)
    if conv:
        for n, ch in ((3, 320), (6, 640)):
            if keep("IN", n):
                layers.append((f"input_blocks.{n}.0.op", ch, ch, 3))
        if keep("MID", 0):
            layers += _resnet_compvis("middle_block.0", 1280, 1280)
    if keep("MID", 1):
        layers += _attention("middle_block.1", 1280, 2048, 10, False)
    if conv and keep("MID", 2):
        layers += _resnet_compvis("middle_block.2", 1280, 1280)
    for n, (cin, cout, depth) in _SDXL_OUT.items():
        if conv and keep("OUT", n):
            layers += _resnet_compvis(f"output_blocks.{n}.0", cin, cout)
        if depth and keep("OUT", n):
            layers += _attention(f"output_blocks.{n}.1", cout, 2048, depth, False)
        if conv and n in (2, 5) and keep("OUT", n):
            layers.append((f"output_blocks.{n}.2.conv", cout, cout, 3))
    return layers


def clip_layers(n_layers: int, hidden: int):
    layers = []
    for i in range(n_layers):
        p = f"text_model.encoder.layers.{i}"
        layers += [(f"{p}.self_attn.{x}_proj", hidden, hidden, 1) for x in ("q", "k", "v", "out")]
        layers += [(f"{p}.mlp.fc1", hidden * 4, hidden, 1), (f"{p}.mlp.fc2", hidden, hidden * 4, 1)]
    return layers


def t5_layers(n_blocks: int = 24):
    layers = []
    for i in range(n_blocks):
        p = f"encoder.block.{i}.layer"
        layers += [(f"{p}.0.SelfAttention.{x}", 4096, 4096, 1) for x in ("q", "k", "v", "o")]
        layers += [(f"{p}.1.DenseReluDense.wi_0", 10240, 4096, 1), (f"{p}.1.DenseReluDense.wi_1", 10240, 4096, 1),
                   (f"{p}.1.DenseReluDense.wo", 4096, 10240, 1)]
    return layers


def flux_layers(doubles=range(19), singles=range(38), modulation=True):
    """Flux/Chroma in BFL names (kohya, ComfyUI, BFL)."""
    layers = []
    for n in doubles:
        for s in ("img", "txt"):
            layers += [(f"double_blocks.{n}.{s}_attn.qkv", 9216, 3072, 1), (f"double_blocks.{n}.{s}_attn.proj", 3072, 3072, 1),
                       (f"double_blocks.{n}.{s}_mlp.0", 12288, 3072, 1), (f"double_blocks.{n}.{s}_mlp.2", 3072, 12288, 1)]
            if modulation:
                layers.append((f"double_blocks.{n}.{s}_mod.lin", 18432, 3072, 1))
    for n in singles:
        layers += [(f"single_blocks.{n}.linear1", 21504, 3072, 1), (f"single_blocks.{n}.linear2", 3072, 15360, 1)]
        if modulation:
            layers.append((f"single_blocks.{n}.modulation.lin", 9216, 3072, 1))
    return layers


def flux_diffusers_layers(doubles=range(19), singles=range(38)):
    layers = []
    for n in doubles:
        p = f"transformer_blocks.{n}"
        layers += [(f"{p}.attn.{x}", 3072, 3072, 1) for x in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")]
        layers += [(f"{p}.ff.net.0.proj", 12288, 3072, 1), (f"{p}.ff.net.2", 3072, 12288, 1),
                   (f"{p}.ff_context.net.0.proj", 12288, 3072, 1), (f"{p}.ff_context.net.2", 3072, 12288, 1),
                   (f"{p}.norm1.linear", 18432, 3072, 1), (f"{p}.norm1_context.linear", 18432, 3072, 1)]
    for n in singles:
        p = f"single_transformer_blocks.{n}"
        layers += [(f"{p}.attn.{x}", 3072, 3072, 1) for x in ("to_q", "to_k", "to_v")]
        layers += [(f"{p}.proj_mlp", 12288, 3072, 1), (f"{p}.proj_out", 3072, 15360, 1), (f"{p}.norm.linear", 9216, 3072, 1)]
    return layers


def hunyuan_video_layers():
    """HunyuanVideo in Tencent names (diffusion-pipe): 20 double + 40 single blocks."""
    layers = []
    for n in range(20):
        for s in ("img", "txt"):
            layers += [(f"double_blocks.{n}.{s}_attn_qkv", 9216, 3072, 1), (f"double_blocks.{n}.{s}_attn_proj", 3072, 3072, 1),
                       (f"double_blocks.{n}.{s}_mlp.fc1", 12288, 3072, 1), (f"double_blocks.{n}.{s}_mlp.fc2", 3072, 12288, 1),
                       (f"double_blocks.{n}.{s}_mod.linear", 18432, 3072, 1)]
    for n in range(40):
        layers += [(f"single_blocks.{n}.linear1", 21504, 3072, 1), (f"single_blocks.{n}.linear2", 3072, 15360, 1),
                   (f"single_blocks.{n}.modulation.linear", 9216, 3072, 1)]
    return layers


def sd3_layers(depth=24, hidden=1536):
    layers = []
    for n in range(depth):
        for part in ("x_block", "context_block"):
            p = f"joint_blocks.{n}.{part}"
            pre_only = part == "context_block" and n == depth - 1
            layers += [(f"{p}.attn.qkv", hidden * 3, hidden, 1), (f"{p}.adaLN_modulation.1", hidden * (2 if pre_only else 6), hidden, 1)]
            if not pre_only:
                layers += [(f"{p}.attn.proj", hidden, hidden, 1), (f"{p}.mlp.fc1", hidden * 4, hidden, 1), (f"{p}.mlp.fc2", hidden, hidden * 4, 1)]
    return layers


def wan_layers(dim=5120, ffn=13824, depth=40, i2v=False):
    layers = []
    for n in range(depth):
        p = f"blocks.{n}"
        layers += [(f"{p}.self_attn.{x}", dim, dim, 1) for x in ("q", "k", "v", "o")]
        layers += [(f"{p}.cross_attn.{x}", dim, dim, 1) for x in ("q", "k", "v", "o")]
        if i2v:
            layers += [(f"{p}.cross_attn.k_img", dim, dim, 1), (f"{p}.cross_attn.v_img", dim, dim, 1)]
        layers += [(f"{p}.ffn.0", ffn, dim, 1), (f"{p}.ffn.2", dim, ffn, 1)]
    return layers


def qwen_image_layers(depth=60):
    layers = []
    for n in range(depth):
        p = f"transformer_blocks.{n}"
        layers += [(f"{p}.attn.{x}", 3072, 3072, 1) for x in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")]
        layers += [(f"{p}.img_mlp.net.0.proj", 12288, 3072, 1), (f"{p}.img_mlp.net.2", 3072, 12288, 1),
                   (f"{p}.txt_mlp.net.0.proj", 12288, 3072, 1), (f"{p}.txt_mlp.net.2", 3072, 12288, 1),
                   (f"{p}.img_mod.1", 18432, 3072, 1), (f"{p}.txt_mod.1", 18432, 3072, 1)]
    return layers


# ---------------------------------------------------------------------------------------------
# Naming schemes: dotted path -> module name as the trainer writes it


def _underscore(prefix):
    return lambda path: prefix + path.replace(".", "_")


def _dotted(prefix):
    return lambda path: prefix + path


NAMING = {
    "kohya_unet": _underscore("lora_unet_"),
    "kohya_te": _underscore("lora_te_"),
    "kohya_te1": _underscore("lora_te1_"),
    "kohya_te2": _underscore("lora_te2_"),
    "kohya_te3": _underscore("lora_te3_"),
    "onetrainer": _underscore("lora_transformer_"),
    "lycoris": _underscore("lycoris_"),
    "diffusers_unet": _dotted("unet."),
    "transformer": _dotted("transformer."),
    "comfy": _dotted("diffusion_model."),
    "text_encoder": _dotted("text_encoder."),
    "text_encoder_2": _dotted("text_encoder_2."),
    "bare": _dotted(""),
}

# ---------------------------------------------------------------------------------------------
# Adapters: one layer -> its tensors (name, shape, init) where init is "small", "zero"-free
# random data, or ("scalar", value)


def _kernel(k):
    if k == "conv1x1":
        return (1, 1)
    return (k, k) if k != 1 else None


def _lora(module, out, inp, k, rank, alpha, suffix="kohya", tucker=False):
    kern = _kernel(k)
    up, down = {"kohya": ("lora_up.weight", "lora_down.weight"), "peft": ("lora_B.weight", "lora_A.weight"),
                "peft_default": ("lora_B.default.weight", "lora_A.default.weight"),
                "linear_layer": ("lora_linear_layer.up.weight", "lora_linear_layer.down.weight"),
                "xlabs": ("up.weight", "down.weight")}[suffix]
    tensors = []
    if kern and tucker and kern != (1, 1):
        tensors += [(f"{module}.lora_down.weight", (rank, inp, 1, 1)), (f"{module}.lora_mid.weight", (rank, rank) + kern),
                    (f"{module}.lora_up.weight", (out, rank, 1, 1))]
    elif kern:
        tensors += [(f"{module}.{down}", (rank, inp) + kern), (f"{module}.{up}", (out, rank, 1, 1))]
    else:
        tensors += [(f"{module}.{down}", (rank, inp)), (f"{module}.{up}", (out, rank))]
    if alpha is not None:
        tensors.append((f"{module}.alpha", ("scalar", alpha)))
    return tensors


def _loha(module, out, inp, k, rank, alpha, tucker=False):
    kern = _kernel(k)
    flat_in = inp * (kern[0] * kern[1] if kern else 1)
    tensors = []
    if kern and tucker and kern != (1, 1):
        for w in ("1", "2"):
            tensors += [(f"{module}.hada_w{w}_a", (rank, out)), (f"{module}.hada_w{w}_b", (rank, inp)),
                        (f"{module}.hada_t{w}", (rank, rank) + kern)]
    else:
        for w in ("1", "2"):
            tensors += [(f"{module}.hada_w{w}_a", (out, rank)), (f"{module}.hada_w{w}_b", (rank, flat_in))]
    tensors.append((f"{module}.alpha", ("scalar", alpha)))
    return tensors


def _factor(n, limit=8):
    for f in range(min(limit, n), 0, -1):
        if n % f == 0:
            return f
    return 1


def _lokr(module, out, inp, k, rank, alpha, full_w2=False):
    a, b = _factor(out), _factor(inp)
    c, d = out // a, inp // b
    tensors = [(f"{module}.lokr_w1", (a, b))]
    if full_w2:
        tensors.append((f"{module}.lokr_w2", (c, d)))
    else:
        tensors += [(f"{module}.lokr_w2_a", (c, rank)), (f"{module}.lokr_w2_b", (rank, d))]
    tensors.append((f"{module}.alpha", ("scalar", alpha)))
    return tensors


def _glora(module, out, inp, k, rank, alpha):
    return [(f"{module}.a1.weight", (rank, inp)), (f"{module}.a2.weight", (inp, rank)),
            (f"{module}.b1.weight", (rank, inp)), (f"{module}.b2.weight", (out, rank)),
            (f"{module}.alpha", ("scalar", alpha))]


def _oft(module, out, inp, k, rank, alpha):
    block = _factor(out, 16)
    return [(f"{module}.oft_blocks", (out // block, block, block)), (f"{module}.alpha", ("scalar", alpha))]


def _boft(module, out, inp, k, rank, alpha):
    block = 4 if out % 4 == 0 else 1
    return [(f"{module}.oft_blocks", (2, out // block, block, block)), (f"{module}.rescale", (out, 1)),
            (f"{module}.alpha", ("scalar", alpha))]


def _diff(module, out, inp, k, rank, alpha):
    kern = _kernel(k)
    return [(f"{module}.diff", (out, inp) + (kern or ())), (f"{module}.diff_b", (out,))]


ADAPTERS = {"lora": _lora, "loha": _loha, "lokr": _lokr, "glora": _glora, "oft": _oft, "boft": _boft, "full": _diff}

# ---------------------------------------------------------------------------------------------


@dataclass
class Part:
    """A set of layers written with one naming scheme and one adapter."""

    layers: list
    naming: str
    adapter: str = "lora"
    options: dict = field(default_factory=dict)


@dataclass
class Fixture:
    description: str
    parts: list
    metadata: dict = field(default_factory=dict)
    rank: int = 2
    alpha: float | None = 1.0
    dora: bool = False
    extra: list = field(default_factory=list)   # (name, shape) tensors outside any adapter


def _sd1_te():
    return clip_layers(12, 768)


def _thumbnail_png() -> str:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _tags(tags: dict) -> str:
    return json.dumps({"10_dataset": tags}, sort_keys=True)


def _sdxl_diffusers_layers():
    """SDXL attention layers in diffusers names (down_blocks.1/2, mid_block, up_blocks.0/1)."""
    layers = []
    for level, ch, depth in ((1, 640, 2), (2, 1280, 10)):
        for i in range(2):
            layers += _attention(f"down_blocks.{level}.attentions.{i}", ch, 2048, depth, False)
    layers += _attention("mid_block.attentions.0", 1280, 2048, 10, False)
    for level, ch, depth in ((0, 1280, 10), (1, 640, 2)):
        for i in range(3):
            layers += _attention(f"up_blocks.{level}.attentions.{i}", ch, 2048, depth, False)
    return layers



_SDXL_TE = [Part(clip_layers(12, 768), "kohya_te1"), Part(clip_layers(32, 1280), "kohya_te2")]

FIXTURES: dict = {
    "sd1_lora": Fixture("SD1.5 kohya LoRA, attention + CLIP", [Part(sd_unet_layers("sd1", False), "kohya_unet"), Part(_sd1_te(), "kohya_te")],
                        {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora", "ss_network_dim": "2", "ss_network_alpha": "1",
                         "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors", "ss_output_name": "watercolor_style",
                         "ss_tag_frequency": _tags({"watercolor": 40, "painting": 31, "1girl": 12})}),
    "sd1_locon": Fixture("SD1.5 kohya LoCon (conv layers)", [Part(sd_unet_layers("sd1", True), "kohya_unet")],
                         {"ss_network_module": "networks.lora", "ss_network_args": '{"conv_dim": "2"}'}),
    "sd1_locon_tucker": Fixture("SD1.5 LyCORIS LoCon with Tucker cores", [Part(sd_unet_layers("sd1", True), "kohya_unet", options={"tucker": True})],
                                {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "locon", "use_tucker": "True"}'}),
    "sd1_nometa": Fixture("SD1.5 LoRA, no metadata (attention only)", [Part(sd_unet_layers("sd1", False), "kohya_unet")]),
    "sd1_loha": Fixture("SD1.5 LyCORIS LoHa with conv", [Part(sd_unet_layers("sd1", True), "kohya_unet", "loha")],
                        {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'}),
    "sd1_lokr": Fixture("SD1.5 LyCORIS LoKr", [Part(sd_unet_layers("sd1", False), "kohya_unet", "lokr")],
                        {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lokr"}'}),
    "sd1_glora": Fixture("SD1.5 LyCORIS GLoRA", [Part(sd_unet_layers("sd1", False), "kohya_unet", "glora")]),
    "sd1_oft": Fixture("SD1.5 LyCORIS diag-OFT", [Part(sd_unet_layers("sd1", False), "kohya_unet", "oft")]),
    "sd1_boft": Fixture("SD1.5 LyCORIS BOFT", [Part(sd_unet_layers("sd1", False), "kohya_unet", "boft")]),
    "sd1_attn_processor": Fixture("SD1.5 old diffusers attention-processor LoRA",
                                  [Part([l for l in sd_unet_layers("sd1", False) if ".attn" in l[0]], "diffusers_unet", options={"processor": True})],
                                  alpha=None),
    "sd2_lora": Fixture("SD2.x kohya LoRA with OpenCLIP-H", [Part(sd_unet_layers("sd2", False), "kohya_unet"), Part(clip_layers(23, 1024), "kohya_te")],
                        {"ss_base_model_version": "sd_v2", "ss_v2": "True"}),
    "sdxl_lora": Fixture("SDXL kohya LoRA, UNet + both CLIPs", [Part(sdxl_unet_layers(False), "kohya_unet")] + _SDXL_TE,
                         {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "networks.lora",
                          "ss_sd_model_name": "sd_xl_base_1.0.safetensors", "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
                          "modelspec.title": "Ink Sketch", "modelspec.trigger_phrase": "inksketch, monochrome",
                          "modelspec.thumbnail": _thumbnail_png()}),
    "sdxl_locon": Fixture("SDXL kohya LoCon", [Part(sdxl_unet_layers(True), "kohya_unet")],
                          {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_args": '{"conv_dim": "2", "conv_alpha": "1"}'}),
    "sdxl_pony": Fixture("Pony character LoRA (SDXL, UNet only)", [Part(sdxl_unet_layers(False), "kohya_unet")],
                         {"ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "ponyDiffusionV6XL_v6StartWithThisOne.safetensors",
                          "ss_tag_frequency": _tags({"score_9": 50, "score_8_up": 50, "mychar": 50, "red hair": 22})}),
    "sdxl_illustrious": Fixture("Illustrious style LoRA (SDXL)", [Part(sdxl_unet_layers(False), "kohya_unet")],
                                {"modelspec.architecture": "stable-diffusion-xl-v1-base/lora", "modelspec.title": "Pastel (Illustrious-XL)"}),
    "sdxl_pony_tags": Fixture("SDXL LoRA whose only Pony signal is its tags", [Part(sdxl_unet_layers(False), "kohya_unet")],
                              {"ss_tag_frequency": _tags({"score_9": 10, "score_8_up": 10, "solo": 5})}),
    "sdxl_partial": Fixture("SDXL LoRA trained on some blocks only", [Part(sdxl_unet_layers(False, {("IN", 8), ("MID", 1), ("OUT", 1)}), "kohya_unet")]),
    "sdxl_loha": Fixture("SDXL LyCORIS LoHa", [Part(sdxl_unet_layers(False), "kohya_unet", "loha")]),
    "sdxl_dora": Fixture("SDXL DoRA (kohya/LyCORIS dora_wd)", [Part(sdxl_unet_layers(False), "kohya_unet")], dora=True),
    "sdxl_peft": Fixture("SDXL diffusers/PEFT LoRA", [Part(_sdxl_diffusers_layers(), "diffusers_unet", options={"suffix": "peft"}),
                                                     Part(clip_layers(12, 768), "text_encoder", options={"suffix": "peft"}),
                                                     Part(clip_layers(32, 1280), "text_encoder_2", options={"suffix": "peft"})], alpha=None),
    "sdxl_full_diff": Fixture("SDXL full diff (ComfyUI LoRA save)", [Part(sdxl_unet_layers(False, {("IN", 4), ("OUT", 3)}), "comfy", "full")], alpha=None),
    "flux_lora": Fixture("Flux kohya LoRA with CLIP-L and T5", [Part(flux_layers(), "kohya_unet"), Part(clip_layers(12, 768), "kohya_te1"), Part(t5_layers(), "kohya_te3")],
                         {"ss_base_model_version": "flux1", "ss_network_module": "networks.lora_flux", "modelspec.architecture": "flux-1-dev/lora"}),
    "flux_single": Fixture("Flux kohya single-blocks-only LoRA", [Part(flux_layers(doubles=()), "kohya_unet")], {"ss_network_module": "networks.lora_flux"}),
    "flux_double": Fixture("Flux double-blocks-only LoRA", [Part(flux_layers(singles=()), "kohya_unet")]),
    "flux_partial": Fixture("Flux LoRA on a few blocks", [Part(flux_layers(doubles=(7, 8, 9), singles=(9, 20)), "comfy", options={"suffix": "peft"})], alpha=None),
    "flux_peft": Fixture("Flux diffusers/PEFT LoRA (ai-toolkit)", [Part(flux_diffusers_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "flux_onetrainer": Fixture("Flux OneTrainer LoRA with T5 as lora_te2_", [Part(flux_diffusers_layers(), "onetrainer"), Part(t5_layers(4), "kohya_te2")]),
    "flux_lokr": Fixture("Flux SimpleTuner LyCORIS LoKr", [Part(flux_diffusers_layers(doubles=range(19), singles=range(38)), "lycoris", "lokr")]),
    "flux_xlabs": Fixture("Flux XLabs processor LoRA", [Part([], "bare", options={"xlabs": True})], alpha=None),
    "chroma_lora": Fixture("Chroma LoRA (Flux layout without modulation)", [Part(flux_layers(modulation=False), "comfy", options={"suffix": "peft"})],
                           {"modelspec.architecture": "chroma/lora", "ss_base_model_version": "chroma"}, alpha=None),
    "hunyuan_video": Fixture("HunyuanVideo diffusion-pipe LoRA", [Part(hunyuan_video_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
    "sd3_lora": Fixture("SD3 medium kohya LoRA", [Part(sd3_layers(), "kohya_unet")], {"ss_base_model_version": "medium"}),
    "sd3_peft": Fixture("SD3.5 large diffusers LoRA", [Part([(p.replace("joint_blocks", "transformer_blocks").replace("x_block.attn.qkv", "attn.to_q"), o // 3 if "qkv" in p else o, i, k)
                                                           for p, o, i, k in sd3_layers(38, 2432) if "x_block.attn.qkv" in p], "transformer", options={"suffix": "peft"})], alpha=None),
    "wan_lora": Fixture("WAN 2.1 14B musubi LoRA", [Part(wan_layers(), "kohya_unet")], {"ss_network_module": "networks.lora_wan", "ss_base_model_version": "wan"}),
    "wan_1_3b": Fixture("WAN 2.1 1.3B LoRA in ComfyUI names", [Part(wan_layers(1536, 8960, 30), "comfy", options={"suffix": "peft"})], alpha=None),
    "qwen_image": Fixture("Qwen-Image LoRA", [Part(qwen_image_layers(), "transformer", options={"suffix": "peft"})], alpha=None),
}




def _xlabs_tensors(rank):
    out = []
    for n in range(19):
        for s in ("1", "2"):
            out += [(f"double_blocks.{n}.processor.qkv_lora{s}.down.weight", (rank, 3072)), (f"double_blocks.{n}.processor.qkv_lora{s}.up.weight", (9216, rank)),
                    (f"double_blocks.{n}.processor.proj_lora{s}.down.weight", (rank, 3072)), (f"double_blocks.{n}.processor.proj_lora{s}.up.weight", (3072, rank))]
    return out


# Non-LoRA files that end up in LoRA folders.
def checkpoint_tensors():
    """A few hundred tensors named like an SD1.5 full checkpoint (shapes shrunk: only names matter)."""
    out = []
    for path, o, i, k in sd_unet_layers("sd1", True):
        out.append((f"model.diffusion_model.{path}.weight", (4, 4)))
        out.append((f"model.diffusion_model.{path}.bias", (4,)))
    out += [("first_stage_model.decoder.conv_in.weight", (4, 4)), ("cond_stage_model.transformer.text_model.final_layer_norm.weight", (4,))]
    return out


def embedding_tensors():
    return [("clip_l", (4, 768)), ("clip_g", (4, 1280))]


def fixture_tensors(fixture: Fixture, rank: int | None = None):
    """(name, shape-or-("scalar", v)) for every tensor of a fixture."""
    rank = rank or fixture.rank
    tensors = []
    for part in fixture.parts:
        naming = NAMING[part.naming]
        options = dict(part.options)
        if options.pop("xlabs", False):
            tensors += _xlabs_tensors(rank)
            continue
        processor = options.pop("processor", False)
        suffix = options.pop("suffix", None)
        for path, out, inp, k in part.layers:
            if processor:
                path = path.replace(".attn1.", ".attn1.processor.").replace(".attn2.", ".attn2.processor.").replace("to_out.0", "to_out")
                module = naming(path)
                tensors += [(f"{module}_lora.down.weight", (rank, inp)), (f"{module}_lora.up.weight", (out, rank))]
                continue
            module = naming(path)
            if part.adapter == "lora":
                kw = dict(options)
                if suffix:
                    kw["suffix"] = suffix
                tensors += _lora(module, out, inp, k, rank, fixture.alpha, **kw)
            else:
                tensors += ADAPTERS[part.adapter](module, out, inp, k, rank, fixture.alpha if fixture.alpha is not None else 1.0, **options)
            if fixture.dora:
                tensors.append((f"{module}.dora_scale", (out, 1)))
    tensors += fixture.extra
    return tensors


def write_fixture(name_or_fixture, path: str, *, rank: int | None = None, dtype: str = "F16", sparse: bool = False,
                  seed: int = 0, metadata: dict | None = None) -> str:
    """Write one fixture to `path`. Weights are small random values (seeded); with `sparse` only
    the header and the alpha scalars are written and the weights are holes."""
    fixture = FIXTURES[name_or_fixture] if isinstance(name_or_fixture, str) else name_or_fixture
    rng = np.random.default_rng(seed)
    entries = []
    for name, shape in fixture_tensors(fixture, rank):
        if isinstance(shape, tuple) and shape and shape[0] == "scalar":
            entries.append((name, dtype, (), np.array(shape[1], dtype=np.float32)))
        elif sparse:
            entries.append((name, dtype, shape, None))
        else:
            entries.append((name, dtype, shape, (rng.standard_normal(shape, dtype=np.float32) * 0.02)))
    meta = dict(fixture.metadata)
    meta.update(metadata or {})
    safetensors_writer.write(path, entries, meta, sparse=sparse)
    return path


def write_tensors(path: str, tensors, metadata=None, dtype="F16", sparse=True):
    """Write arbitrary (name, shape) tensors: the non-LoRA files of the demo and the tests."""
    safetensors_writer.write(path, [(n, dtype, s, None) for n, s in tensors], metadata, sparse=sparse)
    return path
