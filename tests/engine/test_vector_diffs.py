"""Bias and norm diffs as ComfyUI loads them (issue 14 §1): a LoRA module's `diff_b` patches the
layer's bias beside its LoRA, a 1-D `.diff` patches a norm weight; analysis measures both, and the
adapter label follows the file's weight mass, not its module count."""

from __future__ import annotations

import numpy as np
import pytest

from lora_atlas.demo.synthetic_loras import FIXTURES, flux_extract, write_fixture
from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.engine.safetensors_header import read_header
from lora_atlas.engine.tensors import decode

FLUX = {"modelspec.architecture": "flux-1-dev/lora"}


def _stored(path) -> dict:
    """Every tensor of a file as float64, decoded from its own bytes."""
    header = read_header(path)
    with open(path, "rb") as fh:
        data = fh.read()
    out = {}
    for name, entry in header.tensors.items():
        dtype, shape, (begin, end) = entry.dtype, entry.shape, entry.data_offsets
        start = header.data_start + begin
        out[name] = decode(data[start:start + end - begin], dtype, shape).astype(np.float64)
    return out


def _expected_block_energy(tensors: dict) -> dict:
    """{Inspire block: Σ ‖ΔW‖² + ‖Δb‖² + ‖Δnorm‖²} at strength 1, as ComfyUI's calculate_weight adds
    them (`weight += diff`; LoRA `up @ down`, no alpha so scale 1), in float64, grouped by BFL block name."""
    def block(name):
        parts = name.split(".")
        if parts[1] in ("double_blocks", "single_blocks"):
            return ("DOUBLE" if parts[1] == "double_blocks" else "SINGLE") + parts[2]
        return "BASE"

    energy: dict = {}
    for name, value in tensors.items():
        if name.endswith(".lora_up.weight"):
            down = tensors[name.replace(".lora_up.", ".lora_down.")]
            e = float(np.sum((value.T @ value) * (down @ down.T)))   # ‖up @ down‖², without the big product
        elif name.endswith((".diff", ".diff_b")):
            e = float(np.sum(value ** 2))
        else:
            continue
        energy[block(name)] = energy.get(block(name), 0.0) + e
    return energy


def test_comfyui_extraction_reports_exact_block_energy_and_lora(tmp_path):
    # the fixture's own format, on two double and one single block to keep the file small
    small = flux_extract(doubles=(0, 1), singles=(0,))
    assert FIXTURES["flux_comfy_extract"].description == small.description
    path = write_fixture(small, str(tmp_path / "extract.safetensors"), rank=4, metadata=FLUX)
    insp = inspect_file(path)
    assert insp.ok and insp.architecture == "flux"
    assert insp.adapter == "lora"
    assert insp.adapters == {"bias": 3 + 2 * 10 + 3, "lora": 3 + 2 * 10 + 3, "norm": 2 * 4 + 2}
    assert any("also carries 26 bias and 10 norm diff(s)" in e for e in insp.evidence)

    result = analyze_file(path)
    stored = _stored(path)
    expected = _expected_block_energy(stored)
    got = {b["name"]: b["energy"] for b in result["blocks"]}
    assert set(got) == set(expected) == {"BASE", "DOUBLE0", "DOUBLE1", "SINGLE0"}
    for name, energy in expected.items():
        assert got[name] == pytest.approx(energy, rel=1e-6), name
    assert result["total_energy"] == pytest.approx(sum(expected.values()), rel=1e-6)
    # the diffs are a few percent of a block: dropping them would show
    lora_only = _expected_block_energy({k: v for k, v in stored.items() if not k.endswith((".diff", ".diff_b"))})
    assert all(got[b] > lora_only[b] * 1.001 for b in lora_only)


def test_norm_diffs_that_outnumber_the_lora_modules_stay_a_lora(tmp_path, write_lora, rng):
    tensors = {}
    for n in range(2):
        m = f"diffusion_model.double_blocks.{n}.img_attn.qkv"
        tensors[f"{m}.lora_up.weight"] = rng.standard_normal((96, 4))
        tensors[f"{m}.lora_down.weight"] = rng.standard_normal((4, 32))
    for n in range(2):
        for side in ("img", "txt"):
            for q in ("query_norm", "key_norm"):
                tensors[f"diffusion_model.double_blocks.{n}.{side}_attn.norm.{q}.diff"] = rng.standard_normal(16) * 1e-3
    write_lora(tmp_path / "a.safetensors", tensors, metadata=FLUX)
    insp = inspect_file(str(tmp_path / "a.safetensors"))
    assert insp.adapters == {"lora": 2, "norm": 8}
    assert insp.adapter == "lora"        # 8 norm patches against 2 LoRA modules: the mass is the LoRA's


def test_full_size_weight_diffs_that_dominate_make_a_full_file(tmp_path, write_lora, rng):
    tensors = {}
    for n in range(3):
        m = f"diffusion_model.double_blocks.{n}.img_attn.qkv"
        tensors[f"{m}.lora_up.weight"] = rng.standard_normal((96, 2))
        tensors[f"{m}.lora_down.weight"] = rng.standard_normal((2, 32))
    tensors["diffusion_model.double_blocks.3.img_attn.qkv.diff"] = rng.standard_normal((96, 32))
    tensors["diffusion_model.double_blocks.3.img_attn.qkv.diff_b"] = rng.standard_normal(96)
    write_lora(tmp_path / "f.safetensors", tensors, metadata=FLUX)
    insp = inspect_file(str(tmp_path / "f.safetensors"))
    assert insp.adapters == {"bias": 1, "full": 1, "lora": 3}
    assert insp.adapter == "full"        # one 96×32 diff stores more than three rank-2 LoRAs
    assert not any("also carries" in e for e in insp.evidence)


def test_bias_only_file_is_still_full(tmp_path, write_lora, rng):
    write_lora(tmp_path / "b.safetensors", {"diffusion_model.double_blocks.0.img_attn.qkv.diff_b": rng.standard_normal(96)},
               metadata=FLUX)
    insp = inspect_file(str(tmp_path / "b.safetensors"))
    assert (insp.adapter, insp.adapters) == ("full", {"bias": 1})


def test_diff_b_beside_any_adapter_adds_its_energy(tmp_path, write_lora, rng):
    m = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0"
    base = {f"{m}.hada_w1_a": rng.standard_normal((8, 2)), f"{m}.hada_w1_b": rng.standard_normal((2, 8)),
            f"{m}.hada_w2_a": rng.standard_normal((8, 2)), f"{m}.hada_w2_b": rng.standard_normal((2, 8)),
            f"{m}.alpha": np.float64(2.0)}
    bias = rng.standard_normal(8)
    write_lora(tmp_path / "plain.safetensors", base)
    stored = write_lora(tmp_path / "bias.safetensors", {**base, f"{m}.diff_b": bias})
    plain = analyze_file(str(tmp_path / "plain.safetensors"))["total_energy"]
    with_bias = analyze_file(str(tmp_path / "bias.safetensors"))["total_energy"]
    assert with_bias == pytest.approx(plain + float(np.sum(stored[f"{m}.diff_b"] ** 2)), rel=1e-9)
