"""Plain LoRA modules measured in batches (engine.batched_lowrank) give exactly the figures of the
module-by-module path, in every dtype and layout; a module the batch cannot take (NaN, a
rank-deficient factor, a Tucker core) is measured or reported by that path, with its name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lora_atlas.engine import analysis
from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.batched_lowrank import batched_figures
from lora_atlas.demo.synthetic_loras import write_fixture

M = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_{}"


def _module_by_module(monkeypatch, path) -> dict:
    with monkeypatch.context() as m:
        m.setattr(analysis, "batched_figures", lambda *args: {})
        return analyze_file(path, detail=True)


@pytest.mark.parametrize("fixture, dtype", [("sdxl_lora", "F16"), ("sdxl_lora", "BF16"), ("flux_lora", "F32"),
                                            ("sd1_locon", "F16"), ("sd3_peft", "BF16"), ("sdxl_dora", "F16")])
def test_batches_equal_the_module_by_module_path(fixture, dtype, tmp_path, monkeypatch):
    path = str(tmp_path / "f.safetensors")
    write_fixture(fixture, path, rank=4, dtype=dtype, sparse=False)
    batched = analyze_file(path, detail=True)
    assert batched["ok"], batched["error"]
    with analysis.OpenedLora(path) as lora:
        taken = batched_figures(lora.source, lora.targets, analysis.spectrum_figures)
    assert len(taken) >= len(batched["modules"]) // 2          # most modules went through a batch
    assert json.dumps(batched) == json.dumps(_module_by_module(monkeypatch, path))   # bit for bit


def _three_modules(tmp_path, write_lora, rng, up_b):
    tensors = {}
    for name, up in (("q", rng.standard_normal((320, 4))), ("k", up_b), ("v", rng.standard_normal((320, 4)))):
        tensors[f"{M.format(name)}.lora_up.weight"] = up
        tensors[f"{M.format(name)}.lora_down.weight"] = rng.standard_normal((4, 320))
        tensors[f"{M.format(name)}.alpha"] = np.array(2.0)
    path = tmp_path / "f.safetensors"
    write_lora(path, tensors, dtype="F16")
    return str(path)


def test_a_non_finite_module_is_named(tmp_path, write_lora, rng):
    bad = rng.standard_normal((320, 4))
    bad[7, 2] = np.inf
    result = analyze_file(_three_modules(tmp_path, write_lora, rng, bad))
    assert result["ok"] is False and result["error_code"] == "non_finite"
    assert M.format("k") in result["error"] and M.format("q") not in result["error"]


def test_a_rank_deficient_factor_falls_back(tmp_path, write_lora, rng, monkeypatch):
    deficient = rng.standard_normal((320, 4))
    deficient[:, 3] = 0.0                          # UᵀU is singular: no Cholesky factor
    path = _three_modules(tmp_path, write_lora, rng, deficient)
    with analysis.OpenedLora(path) as lora:
        assert batched_figures(lora.source, lora.targets, analysis.spectrum_figures) == {}
    result = analyze_file(path, detail=True)
    ranks = {m["name"]: m["effective_rank"] for m in result["modules"]}
    assert result["ok"] and ranks[M.format("k")] <= 3.0 + 1e-9 < ranks[M.format("q")]   # k: three singular values
    assert json.dumps(result) == json.dumps(_module_by_module(monkeypatch, path))
