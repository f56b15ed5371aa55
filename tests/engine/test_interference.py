"""Pairwise interference (issue 3): ⟨ΔW_a, ΔW_b⟩ per block without building ΔW."""

from __future__ import annotations

import numpy as np
import pytest

from lora_atlas.engine.analysis import analyze_file
from lora_atlas.engine.interference import interference

IN4 = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
IN4B = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_k"
OUT3 = "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
TE = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
OUT, INP = 12, 10


def lora(rng, module, r=3, alpha=1.0, sign=1.0):
    up, down = rng.standard_normal((OUT, r)), rng.standard_normal((r, INP))
    return {f"{module}.lora_up.weight": sign * up, f"{module}.lora_down.weight": down, f"{module}.alpha": np.array(alpha)}


def dense(stored, module) -> np.ndarray:
    """ΔW of one module as ComfyUI builds it (only the adapters these tests write)."""
    s = {k[len(module) + 1:]: v for k, v in stored.items() if k.startswith(module + ".")}
    if "lora_up.weight" in s:
        r = s["lora_down.weight"].shape[0]
        return s["alpha"] / r * s["lora_up.weight"] @ s["lora_down.weight"]
    if "hada_w1_a" in s:
        return s["alpha"] / s["hada_w1_b"].shape[0] * (s["hada_w1_a"] @ s["hada_w1_b"]) * (s["hada_w2_a"] @ s["hada_w2_b"])
    if "lokr_w1" in s:
        w2 = s["lokr_w2"] if "lokr_w2" in s else s["lokr_w2_a"] @ s["lokr_w2_b"]
        scale = s["alpha"] / s["lokr_w2_b"].shape[0] if "lokr_w2_b" in s else 1.0
        return scale * np.kron(s["lokr_w1"], w2)
    return s["diff"]


def test_self_negation_and_disjoint(tmp_path, rng, write_lora):
    a = lora(rng, IN4) | lora(rng, IN4B) | lora(rng, OUT3) | lora(rng, TE)
    write_lora(tmp_path / "a.safetensors", a)
    write_lora(tmp_path / "neg.safetensors", {k: -v if k.endswith("up.weight") else v for k, v in a.items()})
    write_lora(tmp_path / "other.safetensors", lora(rng, IN4.replace("attn1_to_q", "attn1_to_v")) | lora(rng, OUT3.replace("attn1", "attn2")))
    energy = analyze_file(str(tmp_path / "a.safetensors"))
    blocks = {b["name"]: b["energy"] for b in energy["blocks"]}

    same = interference(str(tmp_path / "a.safetensors"), str(tmp_path / "a.safetensors"))
    assert same["ok"], same["error"]
    assert [b["name"] for b in same["blocks"]] == ["IN4", "OUT3"]
    for b in same["blocks"]:
        assert b["inner"] == pytest.approx(blocks[b["name"]], rel=1e-6)
        assert b["cosine"] == pytest.approx(1.0) and b["shared_modules"] == (2 if b["name"] == "IN4" else 1)
    assert same["total"]["inner"] == pytest.approx(energy["total_energy"], rel=1e-6)
    assert same["text_encoders"]["clip_l"]["inner"] == pytest.approx(energy["text_encoders"]["clip_l"]["energy"], rel=1e-6)

    neg = interference(str(tmp_path / "a.safetensors"), str(tmp_path / "neg.safetensors"))
    assert neg["total"]["inner"] == pytest.approx(-energy["total_energy"], rel=1e-6)
    assert all(b["cosine"] == pytest.approx(-1.0) for b in neg["blocks"])

    apart = interference(str(tmp_path / "a.safetensors"), str(tmp_path / "other.safetensors"))
    assert apart["total"]["inner"] == 0.0 and apart["total"]["shared_modules"] == 0
    assert all(b["cosine"] == 0.0 for b in apart["blocks"])
    assert apart["total"]["energy_a"] == pytest.approx(energy["total_energy"])


def _loha(rng, module, r=2):
    return {f"{module}.hada_w1_a": rng.standard_normal((OUT, r)), f"{module}.hada_w1_b": rng.standard_normal((r, INP)),
            f"{module}.hada_w2_a": rng.standard_normal((OUT, r)), f"{module}.hada_w2_b": rng.standard_normal((r, INP)),
            f"{module}.alpha": np.array(1.0)}


def _lokr(rng, module, whole=False, split=(3, 2)):
    a, b = split
    t = {f"{module}.lokr_w1": rng.standard_normal((a, b)), f"{module}.alpha": np.array(2.0)}
    if whole:
        t[f"{module}.lokr_w2"] = rng.standard_normal((OUT // a, INP // b))
    else:
        t[f"{module}.lokr_w2_a"], t[f"{module}.lokr_w2_b"] = rng.standard_normal((OUT // a, 2)), rng.standard_normal((2, INP // b))
    return t


def _diff(rng, module):
    return {f"{module}.diff": rng.standard_normal((OUT, INP))}


MAKERS = {"lora": lora, "loha": _loha, "lokr": _lokr, "lokr_other_split": lambda rng, m: _lokr(rng, m, split=(2, 5)),
          "lokr_whole": lambda rng, m: _lokr(rng, m, whole=True), "diff": _diff}
PAIRS = [("lora", "loha"), ("lora", "lokr"), ("lora", "diff"), ("loha", "diff"), ("lokr", "lokr_whole"),
         ("lokr", "lokr_other_split"), ("lokr", "diff"), ("loha", "lokr"), ("diff", "diff")]


@pytest.mark.parametrize("first,second", PAIRS)
def test_inner_product_across_adapters_equals_dense(first, second, tmp_path, rng, write_lora):
    sa = write_lora(tmp_path / "a.safetensors", MAKERS[first](rng, IN4))
    sb = write_lora(tmp_path / "b.safetensors", MAKERS[second](rng, IN4))
    result = interference(str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"))
    assert result["ok"], result["error"]
    da, db = dense(sa, IN4), dense(sb, IN4)
    (block,) = result["blocks"]
    assert block["inner"] == pytest.approx(float(np.sum(da * db)), rel=1e-5)
    assert block["cosine"] == pytest.approx(float(np.sum(da * db) / np.linalg.norm(da) / np.linalg.norm(db)), rel=1e-5)


def test_relative_changes_are_skipped(tmp_path, rng, write_lora):
    write_lora(tmp_path / "a.safetensors", lora(rng, IN4))
    write_lora(tmp_path / "b.safetensors", {f"{IN4}.oft_blocks": rng.standard_normal((3, 4, 4)), f"{IN4}.alpha": np.array(1.0)})
    result = interference(str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"))
    assert result["ok"] and result["skipped"] == 1 and result["total"]["inner"] == 0.0


def test_different_architectures_and_bad_files(tmp_path, rng, write_lora):
    write_lora(tmp_path / "sd1.safetensors", lora(rng, IN4))
    write_lora(tmp_path / "flux.safetensors", {f"lora_unet_double_blocks_0_img_attn_qkv.{k.split('.', 1)[1]}": v for k, v in lora(rng, IN4).items()},
               metadata={"modelspec.architecture": "flux-1-dev/lora"})
    r = interference(str(tmp_path / "sd1.safetensors"), str(tmp_path / "flux.safetensors"))
    assert r["ok"] is False and r["error_code"] == "architecture_mismatch"
    (tmp_path / "empty.safetensors").write_bytes(b"")
    r = interference(str(tmp_path / "sd1.safetensors"), str(tmp_path / "empty.safetensors"))
    assert r["ok"] is False and r["error_code"] == "empty" and "empty.safetensors" in r["error"]


def test_two_ranks_above_the_layer_meet_without_a_rank_squared_gram(tmp_path, write_lora, rng):
    """Issue 13 item 3, for plans: two 16 KB files of rank 4,000 on a 1 × 1 layer would build a
    4,000 × 4,000 cross Gram (128 MB); their inner product is taken from ΔW instead, exactly."""
    import time
    from lora_atlas.engine.interference import stack_gram
    module = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    deltas = []
    for name in ("a", "b"):
        up, down = rng.standard_normal((1, 4000)) / 50, rng.standard_normal((4000, 1)) / 50
        stored = write_lora(tmp_path / f"{name}.safetensors", {f"{module}.lora_up.weight": up,
                                                               f"{module}.lora_down.weight": down})
        deltas.append(stored[f"{module}.lora_up.weight"] @ stored[f"{module}.lora_down.weight"])
    import tracemalloc
    tracemalloc.start()                               # numpy reports its buffers to tracemalloc
    t = time.perf_counter()
    g = stack_gram([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t < 5 and g["ok"] and peak < 32 << 20
    assert g["blocks"]["IN4"][0][1] == pytest.approx(float(np.sum(deltas[0] * deltas[1])), rel=1e-5)
