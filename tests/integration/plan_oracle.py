#!/usr/bin/env python
"""Apply planned LoRAs with the REAL Inspire "LoRA Loader (Block Weight)" and report what it did.

Run with the peers' Python (it imports comfy_oracle.py from this folder for the ComfyUI setup and
the weightless skeleton), one architecture per process (Inspire's key map is global):

    python plan_oracle.py --comfyui DIR --inspire DIR --arch ARCH JOBS.json

JOBS.json: [{"path", "block_vector", "strength_model", "strength_clip"}, ...]. For each job it
calls Inspire's own `LoraLoaderBlockWeight.load_lora_for_models` with exactly those inputs and
prints one JSON list: {"path", "populated_vector", "model": {key: strength}, "clip": {key:
strength}, "muted": [keys at ratio 0], "unapplied": [keys Inspire grouped, did not mute, and
patched nowhere]}.
"""
import argparse
import contextlib
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import comfy_oracle as co  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--inspire", required=True)
    ap.add_argument("--arch", required=True, choices=co.ARCHS)
    ap.add_argument("jobs")
    args = ap.parse_args(argv)
    with open(args.jobs) as fh:
        jobs = json.load(fh)
    real_stdout = sys.stdout
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    out = []
    with contextlib.redirect_stdout(sys.stderr):
        torch = co._setup_comfy(args.comfyui)
        import comfy.utils
        lbw = co._import_inspire(args.inspire)
        L = lbw.LoraLoaderBlockWeight
        _config, patcher, clip, _info = co.build_skeleton(torch, args.arch)
        for job in jobs:
            lora_sd = comfy.utils.load_torch_file(job["path"], safe_load=True)
            vector = job["block_vector"]
            block_weights, muted, _pv = L.load_lbw(patcher, clip, lora_sd, False, 0, 4.0, 1.0, vector)
            new_model, new_clip, populated = L.load_lora_for_models(
                patcher, clip, lora_sd, job["strength_model"], job["strength_clip"], False, 0, 4.0, 1.0, vector)
            model = {str(co._first(k)): v for k, v in co._strengths(new_model).items()}
            clip_s = {str(co._first(k)): v for k, v in co._strengths(new_clip.patcher).items()} if new_clip is not None else {}
            applied = set(model) | set(clip_s)
            out.append({"path": job["path"], "populated_vector": populated, "model": model, "clip": clip_s,
                        "muted": sorted({str(co._first(k)) for k in muted}),
                        "unapplied": sorted({str(co._first(k)) for k in block_weights if k not in set(muted)} - applied)})
            del lora_sd
    json.dump(out, real_stdout, sort_keys=True)
    real_stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
