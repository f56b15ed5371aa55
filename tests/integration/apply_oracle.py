#!/usr/bin/env python
"""Compare Apply LoRA Plan with chained Inspire "LoRA Loader (Block Weight)" nodes, in-process on
a weightless ComfyUI skeleton (comfy_oracle.build_skeleton). Run with ComfyUI's interpreter:

    python apply_oracle.py --comfyui DIR --inspire DIR --arch sd1 [--profile OUT=0.5,IN4=0] FILE:STRENGTH...

Plans the files (engine.plan_stack.plan_files, policy balanced), applies the plan with
nodes.apply_plan.apply_plan, then chains Inspire's `load_lora_for_models` with the emitted
strings and strengths, and also runs ComfyUI's own `comfy.sd.load_lora_for_models` at the planned
strengths (the reference for which keys a LoRA patches). Prints ONE JSON document: per patcher
(model, clip) the keys each side patched and every difference in strengths or patch tensors.
"""

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _import_pack():
    link_dir = tempfile.mkdtemp(prefix="lora-atlas-pkg-")
    atexit.register(shutil.rmtree, link_dir, True)   # the link only; modules stay imported
    os.symlink(REPO, os.path.join(link_dir, "lora_atlas"))
    sys.path.insert(0, link_dir)
    from lora_atlas.cli.plan_cmd import parse_spec
    from lora_atlas.engine.plan_stack import plan_files
    from lora_atlas.nodes.apply_plan import apply_plan
    from lora_atlas.nodes.planner import lora_plan
    return parse_spec, plan_files, apply_plan, lora_plan


def _tensors(patch):
    weights = getattr(patch, "weights", None)
    if weights is None and isinstance(patch, tuple):
        weights = patch[1] if len(patch) > 1 else patch
    return [w for w in (weights or ()) if hasattr(w, "shape")]


def _table(patcher):
    """key -> [(strength_patch, strength_model, [tensors])]"""
    out = {}
    for key, plist in patcher.patches.items():
        out[key] = [(float(p[0]), float(p[2]), _tensors(p[1])) for p in plist]
    return out


def compare(torch, ours, theirs) -> list:
    diffs = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a is None or b is None:
            diffs.append({"key": key, "only": "ours" if b is None else "inspire"})
            continue
        if len(a) != len(b):
            diffs.append({"key": key, "patches": [len(a), len(b)]})
            continue
        for (sa, ma, ta), (sb, mb, tb) in zip(a, b):
            if abs(sa - sb) > 1e-9 or ma != mb:
                diffs.append({"key": key, "strength": [sa, sb]})
            elif len(ta) != len(tb) or not all(torch.equal(x, y) for x, y in zip(ta, tb)):
                diffs.append({"key": key, "tensors": "differ"})
    return diffs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--inspire", required=True)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--policy", default="balanced")
    ap.add_argument("--profile", help="BLOCK=MULT,... for the first file")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    sys.path.insert(0, HERE)
    from comfy_oracle import _import_inspire, _setup_comfy, build_skeleton
    torch = _setup_comfy(args.comfyui)
    import comfy.sd
    import comfy.utils
    parse_spec, plan_files, apply_plan, lora_plan = _import_pack()
    lbw = _import_inspire(args.inspire)
    specs = [parse_spec(f) for f in args.files]
    profiles = {}
    if args.profile:
        mults = dict(item.split("=") for item in args.profile.split(","))
        profiles[specs[0][0]] = ("oracle", {k: float(v) for k, v in mults.items()})
    plan = lora_plan(plan_files(specs, policy=args.policy, profiles=profiles))
    _, patcher, clip, info = build_skeleton(torch, args.arch)

    our_model, our_clip = apply_plan(patcher, clip, plan)
    m, c = patcher, clip
    ref_m, ref_c = patcher, clip
    L = lbw.LoraLoaderBlockWeight
    for lo in plan["loras"]:
        sd = comfy.utils.load_torch_file(lo["path"], safe_load=True)
        m, c, _ = L.load_lora_for_models(m, c, sd, lo["strength_model"], lo["strength_clip"], False, 0, 4.0, 1.0,
                                         lo["block_vector"])
        ref_m, ref_c = comfy.sd.load_lora_for_models(ref_m, ref_c, sd, 1.0, 1.0)
    report = {
        "arch": args.arch, "skeleton": info,
        "vectors": [lo["block_vector"] for lo in plan["loras"]],
        "ours": {"model": len(our_model.patches), "clip": len(our_clip.patcher.patches)},
        "inspire": {"model": len(m.patches), "clip": len(c.patcher.patches)},
        "comfyui": {"model": len(ref_m.patches), "clip": len(ref_c.patcher.patches)},
        "model_diffs": compare(torch, _table(our_model), _table(m)),
        "clip_diffs": compare(torch, _table(our_clip.patcher), _table(c.patcher)),
        "ours_missing_vs_comfyui": sorted(str(k) for k in set(ref_m.patches) - set(our_model.patches)),
    }
    real_stdout.write(json.dumps(report, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
