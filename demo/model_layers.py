"""The adaptable layers of each architecture the synthetic LoRAs imitate, as tables of (dotted path
inside the model, out_features, in_features, kernel): real names and real shapes, so inspection,
taxonomy and the planner see what a trainer's file holds. Data only; demo.synthetic_loras turns
them into tensors.
"""

from __future__ import annotations


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


# A ResBlock's layers (conv in, time embedding, conv out, skip when the width changes) by naming family
_RESNET_DIFFUSERS = ("conv1", "time_emb_proj", "conv2", "conv_shortcut")
_RESNET_COMPVIS = ("in_layers.2", "emb_layers.1", "out_layers.3", "skip_connection")


def _resnet(prefix, cin, cout, names):
    conv_in, emb, conv_out, skip = names
    layers = [(f"{prefix}.{conv_in}", cout, cin, 3), (f"{prefix}.{emb}", cout, 1280, 1),
              (f"{prefix}.{conv_out}", cout, cout, 3)]
    if cin != cout:
        layers.append((f"{prefix}.{skip}", cout, cin, "conv1x1"))
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
                layers += _resnet(f"down_blocks.{level}.resnets.{i}", cin if i == 0 else cout, cout,
                                  _RESNET_DIFFUSERS)
            if level < 3:
                layers += _attention(f"down_blocks.{level}.attentions.{i}", cout, ctx, 1, conv_proj)
        if conv and level < 3:
            layers.append((f"down_blocks.{level}.downsamplers.0.conv", cout, cout, 3))
    if conv:
        layers += _resnet("mid_block.resnets.0", 1280, 1280, _RESNET_DIFFUSERS)
    layers += _attention("mid_block.attentions.0", 1280, ctx, 1, conv_proj)
    if conv:
        layers += _resnet("mid_block.resnets.1", 1280, 1280, _RESNET_DIFFUSERS)
    for level in range(4):
        cout = _SD_UP_OUT[level]
        for i in range(3):
            if conv:
                layers += _resnet(f"up_blocks.{level}.resnets.{i}", _SD_UP_IN[level][i], cout, _RESNET_DIFFUSERS)
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
            layers += _resnet(f"input_blocks.{n}.0", cin, cout, _RESNET_COMPVIS)
        if depth and keep("IN", n):
            layers += _attention(f"input_blocks.{n}.1", cout, 2048, depth, False)
    if conv:
        for n, ch in ((3, 320), (6, 640)):
            if keep("IN", n):
                layers.append((f"input_blocks.{n}.0.op", ch, ch, 3))
        if keep("MID", 0):
            layers += _resnet("middle_block.0", 1280, 1280, _RESNET_COMPVIS)
    if keep("MID", 1):
        layers += _attention("middle_block.1", 1280, 2048, 10, False)
    if conv and keep("MID", 2):
        layers += _resnet("middle_block.2", 1280, 1280, _RESNET_COMPVIS)
    for n, (cin, cout, depth) in _SDXL_OUT.items():
        if conv and keep("OUT", n):
            layers += _resnet(f"output_blocks.{n}.0", cin, cout, _RESNET_COMPVIS)
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


def hunyuan_video_layers(h=3072, tencent=True):
    """HunyuanVideo in Tencent names (diffusion-pipe): 20 double + 40 single blocks. `h` 3584 is
    HunyuanImage 2.1 (same blocks); `tencent=False` gives ComfyUI's names for the same layers."""
    qkv, proj, fc1, fc2, mod, single_mod = ("_attn_qkv", "_attn_proj", "_mlp.fc1", "_mlp.fc2", "_mod.linear", "modulation.linear") \
        if tencent else ("_attn.qkv", "_attn.proj", "_mlp.0", "_mlp.2", "_mod.lin", "modulation.lin")
    layers = []
    for n in range(20):
        for s in ("img", "txt"):
            layers += [(f"double_blocks.{n}.{s}{qkv}", 3 * h, h, 1), (f"double_blocks.{n}.{s}{proj}", h, h, 1),
                       (f"double_blocks.{n}.{s}{fc1}", 4 * h, h, 1), (f"double_blocks.{n}.{s}{fc2}", h, 4 * h, 1),
                       (f"double_blocks.{n}.{s}{mod}", 6 * h, h, 1)]
    for n in range(40):
        layers += [(f"single_blocks.{n}.linear1", 7 * h, h, 1), (f"single_blocks.{n}.linear2", h, 5 * h, 1),
                   (f"single_blocks.{n}.{single_mod}", 3 * h, h, 1)]
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



def sdxl_diffusers_layers():
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


# --- families ComfyUI 0.33.0 loads (names and widths from its model classes) -------------------

def flux2_layers(hidden=6144, doubles=8, singles=48, global_modulation=True):
    """Flux.2 (dev 6144/8/48, Klein 9B 4096/8/24, Klein 4B 3072/5/20) in BFL names: SiLU-gated
    MLP (ratio 3), no per-block modulation, three shared modulation layers."""
    h = hidden
    layers = []
    for n in range(doubles):
        for s in ("img", "txt"):
            layers += [(f"double_blocks.{n}.{s}_attn.qkv", 3 * h, h, 1), (f"double_blocks.{n}.{s}_attn.proj", h, h, 1),
                       (f"double_blocks.{n}.{s}_mlp.0", 6 * h, h, 1), (f"double_blocks.{n}.{s}_mlp.2", h, 3 * h, 1)]
    for n in range(singles):
        layers += [(f"single_blocks.{n}.linear1", 9 * h, h, 1), (f"single_blocks.{n}.linear2", h, 4 * h, 1)]
    if global_modulation:
        layers += [("double_stream_modulation_img.lin", 6 * h, h, 1), ("double_stream_modulation_txt.lin", 6 * h, h, 1),
                   ("single_stream_modulation.lin", 3 * h, h, 1)]
    return layers


def flux2_diffusers_layers(hidden=3072, doubles=5, singles=20, modulation=False):
    """Flux.2 in diffusers names (ai-toolkit; ComfyUI maps them with flux_to_diffusers): gated
    `ff.linear_in` (6 x hidden) / `linear_out` (reads 3 x hidden), single blocks' fused
    `attn.to_qkv_mlp_proj` (9 x hidden) and `attn.to_out` (reads 4 x hidden). Klein 4B by default."""
    h = hidden
    layers = []
    for n in range(doubles):
        p = f"transformer_blocks.{n}"
        layers += [(f"{p}.attn.{x}", h, h, 1) for x in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                                                          "add_v_proj", "to_add_out")]
        for ff in ("ff", "ff_context"):
            layers += [(f"{p}.{ff}.linear_in", 6 * h, h, 1), (f"{p}.{ff}.linear_out", h, 3 * h, 1)]
    for n in range(singles):
        p = f"single_transformer_blocks.{n}"
        layers += [(f"{p}.attn.to_qkv_mlp_proj", 9 * h, h, 1), (f"{p}.attn.to_out", h, 4 * h, 1)]
    if modulation:  # diffusers' names of the shared modulation (ComfyUI has none for them)
        layers += [("double_stream_modulation_img.linear", 6 * h, h, 1), ("double_stream_modulation_txt.linear", 6 * h, h, 1),
                   ("single_stream_modulation.linear", 3 * h, h, 1)]
    return layers


def chroma_radiance_layers():
    """Chroma Radiance: Chroma's blocks plus the NeRF head's parameter generators."""
    return flux_layers(modulation=False) + [(f"nerf_blocks.{n}.param_generator", 49152, 3072, 1) for n in range(4)]


def hunyuan_video15_layers(depth=54, hidden=2048):
    """HunyuanVideo 1.5 in BFL names: 54 double blocks, no single blocks."""
    h = hidden
    layers = []
    for n in range(depth):
        for s in ("img", "txt"):
            layers += [(f"double_blocks.{n}.{s}_mod.lin", 6 * h, h, 1), (f"double_blocks.{n}.{s}_attn.qkv", 3 * h, h, 1),
                       (f"double_blocks.{n}.{s}_attn.proj", h, h, 1), (f"double_blocks.{n}.{s}_mlp.0", 4 * h, h, 1),
                       (f"double_blocks.{n}.{s}_mlp.2", h, 4 * h, 1)]
    return layers


def z_image_layers(depth=30, dim=3840, ffn=10240):
    """Z-Image in the diffusers names ComfyUI maps onto its Lumina 2 class (to_q/k/v -> qkv slices)."""
    layers = []
    for n in range(depth):
        p = f"layers.{n}"
        layers += [(f"{p}.attention.to_{x}", dim, dim, 1) for x in ("q", "k", "v")]
        layers += [(f"{p}.attention.to_out.0", dim, dim, 1), (f"{p}.feed_forward.w1", ffn, dim, 1),
                   (f"{p}.feed_forward.w2", dim, ffn, 1), (f"{p}.feed_forward.w3", ffn, dim, 1),
                   (f"{p}.adaLN_modulation.0", 4 * dim, 256, 1)]
    return layers


def lumina2_layers(depth=26, dim=2304):
    """Lumina Image 2.0 in ComfyUI's own names (fused qkv: 24 query + 2 x 8 key/value heads)."""
    layers = []
    for n in range(depth):
        p = f"layers.{n}"
        layers += [(f"{p}.attention.qkv", 3840, dim, 1), (f"{p}.attention.out", dim, dim, 1),
                   (f"{p}.feed_forward.w1", 9216, dim, 1), (f"{p}.feed_forward.w2", dim, 9216, 1),
                   (f"{p}.feed_forward.w3", 9216, dim, 1)]
    return layers


def llm_te_layers(n_layers=4, hidden=2560, q=4096, kv=1024):
    """A decoder-LLM text encoder's attention in ComfyUI's llama names: Qwen3-4B by default
    (Z-Image's, Flux.2 Klein 4B's); Qwen2.5-VL-7B is hidden 3584, q 3584, kv 512."""
    layers = []
    for i in range(n_layers):
        p = f"layers.{i}.self_attn"
        layers += [(f"{p}.q_proj", q, hidden, 1), (f"{p}.k_proj", kv, hidden, 1), (f"{p}.v_proj", kv, hidden, 1),
                   (f"{p}.o_proj", hidden, q, 1)]
    return layers


def ltx2_layers(depth=48, video=4096, audio=2048):
    """LTX-2 (audio-video): video and audio self/cross attention, the two cross-modal attentions, FFNs."""
    layers = []
    for n in range(depth):
        p = f"transformer_blocks.{n}"
        for attn, width in (("attn1", video), ("attn2", video), ("audio_attn1", audio)):
            layers += [(f"{p}.{attn}.to_{x}", width, width, 1) for x in ("q", "k", "v")]
            layers.append((f"{p}.{attn}.to_out.0", width, width, 1))
        layers += [(f"{p}.audio_to_video_attn.to_q", audio, video, 1), (f"{p}.audio_to_video_attn.to_out.0", video, audio, 1),
                   (f"{p}.video_to_audio_attn.to_k", audio, video, 1), (f"{p}.video_to_audio_attn.to_v", audio, video, 1),
                   (f"{p}.ff.net.0.proj", 4 * video, video, 1), (f"{p}.ff.net.2", video, 4 * video, 1),
                   (f"{p}.audio_ff.net.0.proj", 4 * audio, audio, 1), (f"{p}.audio_ff.net.2", audio, 4 * audio, 1)]
    return layers


def kandinsky5_layers(visual=32, text=2, dim=1792, ff=7168, time_dim=512):
    """Kandinsky 5 (video lite): text and visual transformer blocks."""
    layers = []
    for group, depth in (("text", text), ("visual", visual)):
        for n in range(depth):
            p = f"{group}_transformer_blocks.{n}"
            attns = ("self_attention",) if group == "text" else ("self_attention", "cross_attention")
            for a in attns:
                layers += [(f"{p}.{a}.{x}", dim, dim, 1) for x in ("to_query", "to_key", "to_value", "out_layer")]
            layers += [(f"{p}.feed_forward.in_layer", ff, dim, 1), (f"{p}.feed_forward.out_layer", dim, ff, 1),
                       (f"{p}.{group}_modulation.out_layer", (6 if group == "text" else 9) * dim, time_dim, 1)]
    return layers


def anima_layers(depth=28, dim=2048, context=1024, mlp=8192, adaln=256, modulation=False):
    """Anima (Cosmos-Predict2 2B blocks): self/cross attention, GPT-2 MLP, optionally the adaLN-LoRA
    modulation pairs; the cross attention reads the LLM adapter's 1024-wide context."""
    layers = []
    for n in range(depth):
        p = f"blocks.{n}"
        layers += [(f"{p}.self_attn.{x}", dim, dim, 1) for x in ("q_proj", "k_proj", "v_proj", "output_proj")]
        layers += [(f"{p}.cross_attn.q_proj", dim, dim, 1), (f"{p}.cross_attn.k_proj", dim, context, 1),
                   (f"{p}.cross_attn.v_proj", dim, context, 1), (f"{p}.cross_attn.output_proj", dim, dim, 1),
                   (f"{p}.mlp.layer1", mlp, dim, 1), (f"{p}.mlp.layer2", dim, mlp, 1)]
        if modulation:
            for what in ("self_attn", "cross_attn", "mlp"):
                layers += [(f"{p}.adaln_modulation_{what}.1", adaln, dim, 1),
                           (f"{p}.adaln_modulation_{what}.2", 3 * dim, adaln, 1)]
    return layers


def ernie_image_layers(depth=36, hidden=4096, ffn=12288):
    """Ernie-Image: layers.N self-attention (to_q/k/v, to_out.0) and gated MLP (gate/up_proj, linear_fc2)."""
    layers = []
    for n in range(depth):
        p = f"layers.{n}"
        layers += [(f"{p}.self_attention.{x}", hidden, hidden, 1) for x in ("to_q", "to_k", "to_v", "to_out.0")]
        layers += [(f"{p}.mlp.gate_proj", ffn, hidden, 1), (f"{p}.mlp.up_proj", ffn, hidden, 1),
                   (f"{p}.mlp.linear_fc2", hidden, ffn, 1)]
    return layers


def omnigen2_layers(depth=32, dim=2520, kv=840, ffn=10240):
    """OmniGen2: layers.N attention (to_q/k/v, to_out.0; 7 of 21 heads for k/v) and SwiGLU feed_forward."""
    layers = []
    for n in range(depth):
        p = f"layers.{n}"
        layers += [(f"{p}.attn.to_q", dim, dim, 1), (f"{p}.attn.to_k", kv, dim, 1), (f"{p}.attn.to_v", kv, dim, 1),
                   (f"{p}.attn.to_out.0", dim, dim, 1), (f"{p}.feed_forward.linear_1", ffn, dim, 1),
                   (f"{p}.feed_forward.linear_2", dim, ffn, 1), (f"{p}.feed_forward.linear_3", ffn, dim, 1)]
    return layers


def krea2_layers(depth=28, features=6144, kv=1536, mlp=16384):
    """Krea 2 in the diffusers names ComfyUI maps (transformer_blocks.N.attn.to_gate, ff.gate/up/down)."""
    layers = []
    for n in range(depth):
        p = f"transformer_blocks.{n}"
        layers += [(f"{p}.attn.to_q", features, features, 1), (f"{p}.attn.to_k", kv, features, 1),
                   (f"{p}.attn.to_v", kv, features, 1), (f"{p}.attn.to_gate", features, features, 1),
                   (f"{p}.attn.to_out.0", features, features, 1), (f"{p}.ff.gate", mlp, features, 1),
                   (f"{p}.ff.up", mlp, features, 1), (f"{p}.ff.down", features, mlp, 1)]
    return layers
