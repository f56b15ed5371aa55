"""How a trainer writes one layer: a naming scheme turns a dotted path into the module name in the
file (kohya, PEFT, ComfyUI, OneTrainer, LyCORIS, ...), and an adapter turns the layer into its
tensors (LoRA, LoCon, LoHa, LoKr, GLoRA, OFT, BOFT, diff), as (name, shape) pairs with alphas as
("scalar", value). Names and shapes only; demo.synthetic_loras fills in the values.
"""

from __future__ import annotations

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
    "comfy_qwen3_4b": _dotted("text_encoders.qwen3_4b.transformer.model."),
    "comfy_qwen25_7b": _dotted("text_encoders.qwen25_7b.transformer.model."),
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


def xlabs_tensors(rank):
    """XLabs' Flux processor LoRA: fixed names per double block, written without a naming scheme."""
    out = []
    for n in range(19):
        for s in ("1", "2"):
            out += [(f"double_blocks.{n}.processor.qkv_lora{s}.down.weight", (rank, 3072)), (f"double_blocks.{n}.processor.qkv_lora{s}.up.weight", (9216, rank)),
                    (f"double_blocks.{n}.processor.proj_lora{s}.down.weight", (rank, 3072)), (f"double_blocks.{n}.processor.proj_lora{s}.up.weight", (3072, rank))]
    return out
