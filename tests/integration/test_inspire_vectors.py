"""Planned vectors through the REAL Inspire "LoRA Loader (Block Weight)".

For stacks of every block layout kind (SDXL standard + partial with a merged MID1+OUT1 position +
LoCon; SD1 LoCon 27; Flux full with CLIP-L/T5, single-only and partial; SD3 and WAN BASE-only),
each LoRA's planned block_vector, strength_model and strength_clip go into Inspire's own node:
its populated_vector must be the plan's ratio at every position, every diffusion-model patch
must get strength_model × the plan's ratio for its block, and every text-encoder patch the plan's
text-encoder scale (strength_clip × BASE ratio). Profiles set BASE below 1 on the LoRAs with text
encoders, so the strength_clip compensation is exercised.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lora_atlas.engine.block_vectors import parse_inspire
from lora_atlas.engine.plan_stack import plan_files
from lora_atlas.library.roles import roles_of
from lora_atlas.demo.synthetic_loras import write_fixture

pytestmark = pytest.mark.integration

DRIVER = os.path.join(os.path.dirname(__file__), "plan_oracle.py")

# arch -> (policy, [(fixture, role folder, strength, clip, profile)])
CASES = {
    "sdxl": ("role-priority", [("sdxl_lora", "styles", 1.0, 0.8, {"BASE": "0.5", "OUT": "0.7"}),
                               ("sdxl_partial", "characters", 0.9, None, None),
                               ("sdxl_locon", "concepts", 0.7, None, None)]),
    "sd1": ("balanced", [("sd1_locon", "concepts", 1.0, None, None),
                         ("sd1_lora", "styles", 0.8, 0.6, {"BASE": "0.25"})]),
    "flux": ("balanced", [("flux_lora", "characters", 1.0, 0.9, {"BASE": "0.8"}),
                          ("flux_single", "concepts", 0.8, None, None),
                          ("flux_partial", "poses", 1.2, None, None)]),
    "sd3": ("balanced", [("sd3_lora", "styles", 1.0, None, None), ("sd3_lora", "concepts", 0.7, None, None)]),
    "wan13": ("balanced", [("wan_1_3b", "styles", 1.0, None, None), ("wan_1_3b", "poses", 0.5, None, None)]),
}

_GROUPS = (("input_blocks.", "IN"), ("middle_block.", "MID"), ("output_blocks.", "OUT"),
           ("double_blocks.", "DOUBLE"), ("single_blocks.", "SINGLE"))


def block_of_model_key(key: str) -> str:
    """Inspire's grouping of a ComfyUI model key (§1.3 step 2)."""
    rest = key[len("diffusion_model."):]
    for prefix, name in _GROUPS:
        if rest.startswith(prefix):
            return f"{name}{int(rest[len(prefix):len(prefix) + 2].rstrip('.'))}"
    return "BASE"


def run_driver(env, arch, jobs, tmp_path):
    jobs_file = tmp_path / f"jobs_{arch}.json"
    jobs_file.write_text(json.dumps(jobs))
    proc = subprocess.run([env["python"], DRIVER, "--comfyui", env["comfyui"], "--inspire", env["inspire"],
                           "--arch", arch, str(jobs_file)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("arch", sorted(CASES))
def test_inspire_applies_the_plan(comfy_env, tmp_path, arch):
    if not comfy_env["inspire"]:
        pytest.skip("INSPIRE_DIR is not set: the Inspire checks are skipped")
    policy, items = CASES[arch]
    specs, profiles = [], {}
    for seed, (fixture, role, strength, clip, profile) in enumerate(items):
        folder = tmp_path / "loras" / role
        folder.mkdir(parents=True, exist_ok=True)
        path = write_fixture(fixture, str(folder / f"{fixture}_{seed}.safetensors"), rank=2, seed=seed)
        specs.append((path, strength, clip))
        if profile:
            profiles[path] = ("test", profile)
    plan = plan_files(specs, policy=policy, profiles=profiles, roles=roles_of([s[0] for s in specs], str(tmp_path / "loras")))
    jobs = [{"path": lo["path"], "block_vector": lo["block_vector"], "strength_model": lo["strength_model"],
             "strength_clip": lo["strength_clip"]} for lo in plan["loras"]]
    report = run_driver(comfy_env, arch, jobs, tmp_path)
    scaled = False
    for lo, got in zip(plan["loras"], report):
        parse_inspire(lo["block_vector"])
        ratio_at = {b["position"]: b["ratio"] for b in lo["blocks"]}
        intended = [ratio_at[p] for p in lo["positions"]]
        populated = [float(x) for x in got["populated_vector"].split(",")]
        assert populated == pytest.approx(intended, abs=1e-12), lo["path"]
        scaled |= any(r != 1 for r in intended[1:])
        ratio_of_block = {b["block"]: b["ratio"] for b in lo["blocks"]}
        assert got["model"], lo["path"]
        for key, strength in got["model"].items():
            want = lo["strength_model"] * ratio_of_block[block_of_model_key(key)]
            assert strength == pytest.approx(want, abs=1e-9), (lo["path"], key)
        assert len(got["muted"]) == 0 or any(b["ratio"] == 0 for b in lo["blocks"])
        if lo["text_encoders"]:
            assert got["clip"], lo["path"]
            for key, strength in got["clip"].items():
                assert strength == pytest.approx(lo["text_encoder_scale"], abs=1e-9), (lo["path"], key)
            # the intended scale survives the BASE ratio: strength_clip × BASE
            base = ratio_at["BASE"]
            assert lo["strength_clip"] * base == pytest.approx(lo["text_encoder_scale"], abs=1e-9)
            assert base != 1 and lo["strength_clip"] != lo["text_encoder_scale"]
        else:
            assert got["clip"] == {} and lo["strength_clip"] == 0
        if arch == "sd3":
            assert got["unapplied"], "Inspire drops SD3 context_block patches"
            assert any("context_block" in w and lo["path"] in w for w in plan["warnings"])
    assert scaled or arch in ("sd3", "wan13"), "the stack should have been scaled somewhere"
