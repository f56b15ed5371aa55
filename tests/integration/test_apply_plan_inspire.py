"""Apply LoRA Plan against chained Inspire "LoRA Loader (Block Weight)" nodes (INSPIRE_DIR), in the
peers' Python on ComfyUI's own weightless model skeletons (apply_oracle.py): the same patch keys,
the same strengths and the same patch tensors, for a stack whose vectors have scaled and zero
positions. For SD3, Inspire drops `context_block` patches and Apply LoRA Plan does not: it patches
every key ComfyUI's own LoRA loader patches."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.integration
ORACLE = os.path.join(os.path.dirname(__file__), "apply_oracle.py")


@pytest.fixture(scope="module")
def inspire_env(comfy_env):
    if not comfy_env["inspire"]:
        pytest.skip("INSPIRE_DIR is not set to a ComfyUI-Inspire-Pack checkout: the Inspire comparison is skipped")
    return comfy_env


def _oracle(env, arch, specs, profile=None) -> dict:
    cmd = [env["python"], ORACLE, "--comfyui", env["comfyui"], "--inspire", env["inspire"], "--arch", arch]
    if profile:
        cmd += ["--profile", profile]
    proc = subprocess.run(cmd + specs, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_sd1_stack_equals_chained_inspire(inspire_env, tmp_path):
    from lora_atlas.demo.synthetic_loras import write_fixture
    files = [write_fixture(f, str(tmp_path / f"{f}_{i}.safetensors"), rank=2, seed=i)
             for i, f in enumerate(("sd1_lora", "sd1_lora", "sd1_loha"))]
    report = _oracle(inspire_env, "sd1", [f"{files[0]}:1.0", f"{files[1]}:0.9", f"{files[2]}:0.8"],
                     profile="OUT=0.5,IN4=0")
    assert any(",0," in v or v.split(",")[3] == "0" for v in report["vectors"])     # a muted position
    assert report["ours"] == report["inspire"] and report["ours"]["model"] > 0 and report["ours"]["clip"] > 0
    assert report["model_diffs"] == [] and report["clip_diffs"] == []
    assert report["ours_missing_vs_comfyui"] == []


def test_sd3_context_blocks_are_applied_where_inspire_drops_them(inspire_env, tmp_path):
    from lora_atlas.demo.synthetic_loras import write_fixture
    path = write_fixture("sd3_lora", str(tmp_path / "sd3.safetensors"), rank=2, seed=1)
    report = _oracle(inspire_env, "sd3", [f"{path}:1.0"])
    assert report["ours_missing_vs_comfyui"] == []                    # every patch ComfyUI applies
    assert report["ours"]["model"] == report["comfyui"]["model"] > report["inspire"]["model"]
    only = {d.get("only") for d in report["model_diffs"]}
    assert only == {"ours"} and all("context_block" in d["key"] for d in report["model_diffs"])
