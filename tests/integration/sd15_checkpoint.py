#!/usr/bin/env python
"""Write a random-weight SD1.5-shaped checkpoint (UNet + CLIP-L + VAE, fp16, ~2 GB) with the real
key names and shapes, taken from ComfyUI's own model classes built on torch's `meta` device.
Nothing is downloaded. Run with ComfyUI's interpreter (the peers' python):

    python sd15_checkpoint.py --comfyui DIR OUT.safetensors

Values: 1-D weights (norms) are 1, 1-D biases 0, everything else N(0, 0.02²), so a sampler run
stays finite. The file is streamed tensor by tensor (memory stays small).
"""

import argparse
import inspect
import json
import os
import struct
import sys

_AUTOENCODER = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}


def shapes(comfy_dir: str) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from comfy_oracle import UNET_CONFIGS, _complete_unet_config, _setup_comfy  # the suite's own ComfyUI bootstrap
    torch = _setup_comfy(comfy_dir)
    import comfy.model_detection
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL
    meta = torch.device("meta")
    unet_config, _filled = _complete_unet_config(torch, UNET_CONFIGS["sd1"][0])
    model_config = comfy.model_detection.model_config_from_unet_config(dict(unet_config))
    with torch.device("meta"):
        model = model_config.get_model({}, "", device=meta)
        vae = AutoencoderKL(ddconfig=_AUTOENCODER, embed_dim=4)
    target = model_config.clip_target()
    clip = comfy.sd.CLIP(target, model_options={"initial_device": meta})
    clip_sd = clip.cond_stage_model.state_dict()
    parts = {"clip_state_dict": clip_sd, "vae_state_dict": vae.state_dict()}
    # By keyword: since ComfyUI 0.11.1 the caller hands over the UNet weights as the first
    # parameter (`unet_state_dict`); before, the model read its own. Positional arguments
    # would put the CLIP weights where the UNet's belong on the newer versions.
    if "unet_state_dict" in inspect.signature(model.state_dict_for_saving).parameters:
        parts["unet_state_dict"] = model.diffusion_model.state_dict()
    sd = model.state_dict_for_saving(**parts)
    return {k: tuple(v.shape) for k, v in sd.items() if v.dtype.is_floating_point}


def write(path: str, table: dict, seed: int = 0) -> None:
    import numpy as np
    rng = np.random.default_rng(seed)
    header, offset = {}, 0
    for name in sorted(table):
        size = 2 * int(np.prod(table[name], dtype=np.int64)) if table[name] else 2
        header[name] = {"dtype": "F16", "shape": list(table[name]), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        for name in sorted(table):
            shape = table[name]
            if len(shape) == 1 and name.endswith(".weight"):
                arr = np.ones(shape, dtype=np.float16)
            elif len(shape) <= 1:
                arr = np.zeros(shape, dtype=np.float16)
            else:
                arr = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)
            fh.write(arr.tobytes())
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("out")
    args = ap.parse_args(argv)
    table = shapes(args.comfyui)
    write(args.out, table)
    print(json.dumps({"path": args.out, "tensors": len(table), "bytes": os.path.getsize(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
