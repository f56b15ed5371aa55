"""Per-block analysis (issue 3): every adapter's figures against a dense ΔW built here as ComfyUI
builds it (spec/block-weights.md §5), scale rules, dtypes, aggregation, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lora_atlas.engine import change_forms
from lora_atlas.engine.analysis import ANALYSIS_VERSION, analyze_file, round_figures
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.demo.synthetic_loras import FIXTURES, write_fixture

SD1 = {"modelspec.architecture": "stable-diffusion-v1/lora"}
# kohya SD1 module names, one per Inspire block the tests use
SD1_MODULES = {
    "IN4": "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q",
    "IN4b": "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_k",
    "IN5": "lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn1_to_q",
    "MID1": "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q",
    "OUT3": "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q",
    "CONV": "lora_unet_down_blocks_1_resnets_0_conv1",
    "BASE": "lora_unet_time_embedding_linear_1",
    "TE": "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
}
M = SD1_MODULES["IN4"]
C = SD1_MODULES["CONV"]


def figures(dw) -> tuple:
    """(energy, spectral norm, effective rank) of a dense change."""
    s = np.linalg.svd(dw.reshape(dw.shape[0], -1), compute_uv=False)
    e = float(np.sum(s * s))
    p = s * s / e
    p = p[p > 1e-300]
    return e, float(s.max()), math.exp(-float(np.sum(p * np.log(p))))


def only_module(path) -> dict:
    result = analyze_file(str(path), detail=True)
    assert result["ok"], result["error"]
    (module,) = result["modules"]
    return module


def assert_figures(module, dw, rel=1e-5):
    e, s, r = figures(dw)
    assert module["energy"] == pytest.approx(e, rel=rel)
    assert module["spectral_norm"] == pytest.approx(s, rel=rel)
    assert module["effective_rank"] == pytest.approx(r, rel=rel)


# ---------------------------------------------------------------------------------------------
# One case per adapter: (tensors, dense ΔW from the stored values), ΔW written as ComfyUI does


def lora(rng, out=12, inp=10, r=3, alpha=2.0):
    t = {f"{M}.lora_up.weight": rng.standard_normal((out, r)), f"{M}.lora_down.weight": rng.standard_normal((r, inp))}
    if alpha is not None:
        t[f"{M}.alpha"] = np.array(alpha)
    scale = alpha / r if alpha is not None else 1.0
    return t, lambda s: scale * s[f"{M}.lora_up.weight"] @ s[f"{M}.lora_down.weight"]


def locon(rng, out=8, inp=6, r=4, alpha=1.0):
    t = {f"{C}.lora_up.weight": rng.standard_normal((out, r, 1, 1)), f"{C}.lora_down.weight": rng.standard_normal((r, inp, 3, 3)),
         f"{C}.alpha": np.array(alpha)}
    return t, lambda s: alpha / r * s[f"{C}.lora_up.weight"].reshape(out, r) @ s[f"{C}.lora_down.weight"].reshape(r, -1)


def locon_tucker(rng, out=8, inp=6, r=3, alpha=1.5):
    t = {f"{C}.lora_up.weight": rng.standard_normal((out, r, 1, 1)), f"{C}.lora_down.weight": rng.standard_normal((r, inp, 1, 1)),
         f"{C}.lora_mid.weight": rng.standard_normal((r, r, 3, 3)), f"{C}.alpha": np.array(alpha)}

    def ref(s):   # comfy/weight_adapter/lora.py, torch ops spelled in numpy
        mat2, mat3 = s[f"{C}.lora_down.weight"], s[f"{C}.lora_mid.weight"]
        final = [mat2.shape[1], mat2.shape[0], mat3.shape[2], mat3.shape[3]]
        mat2 = (mat2.transpose(1, 0, 2, 3).reshape(inp, -1) @ mat3.transpose(1, 0, 2, 3).reshape(r, -1)).reshape(final).transpose(1, 0, 2, 3)
        return alpha / r * s[f"{C}.lora_up.weight"].reshape(out, -1) @ mat2.reshape(r, -1)
    return t, ref


def loha(rng, out=20, inp=18, r=3, alpha=2.0):
    names = [f"{M}.hada_w1_a", f"{M}.hada_w1_b", f"{M}.hada_w2_a", f"{M}.hada_w2_b"]
    t = dict(zip(names, [rng.standard_normal((out, r)), rng.standard_normal((r, inp)), rng.standard_normal((out, r)),
                         rng.standard_normal((r, inp))]))
    t[f"{M}.alpha"] = np.array(alpha)
    return t, lambda s: alpha / r * (s[names[0]] @ s[names[1]]) * (s[names[2]] @ s[names[3]])


def loha_wide(rng):
    """r² larger than the layer: the Hadamard product is read as a dense matrix."""
    return loha(rng, out=7, inp=5, r=3)


def loha_tucker(rng, out=6, inp=5, r=2, alpha=1.0):
    t = {f"{C}.hada_w1_a": rng.standard_normal((r, out)), f"{C}.hada_w1_b": rng.standard_normal((r, inp)),
         f"{C}.hada_t1": rng.standard_normal((r, r, 3, 3)), f"{C}.hada_w2_a": rng.standard_normal((r, out)),
         f"{C}.hada_w2_b": rng.standard_normal((r, inp)), f"{C}.hada_t2": rng.standard_normal((r, r, 3, 3)), f"{C}.alpha": np.array(alpha)}

    def ref(s):
        m1 = np.einsum("ijkl,jr,ip->prkl", s[f"{C}.hada_t1"], s[f"{C}.hada_w1_b"], s[f"{C}.hada_w1_a"])
        m2 = np.einsum("ijkl,jr,ip->prkl", s[f"{C}.hada_t2"], s[f"{C}.hada_w2_b"], s[f"{C}.hada_w2_a"])
        return alpha / r * (m1 * m2).reshape(out, -1)
    return t, ref


def lokr(rng, w1="full", w2="lowrank", alpha=3.0, r=2):
    """kron(w1, w2): w1 4×3 (whole or w1_a·w1_b), w2 5×6 (whole, w2_a·w2_b or Tucker 5×2×3×3)."""
    t = {f"{M}.alpha": np.array(alpha)}
    dim = None
    if w1 == "full":
        t[f"{M}.lokr_w1"] = rng.standard_normal((4, 3))
    else:
        t[f"{M}.lokr_w1_a"], t[f"{M}.lokr_w1_b"] = rng.standard_normal((4, r)), rng.standard_normal((r, 3))
        dim = r
    if w2 == "full":
        t[f"{M}.lokr_w2"] = rng.standard_normal((5, 6))
    elif w2 == "lowrank":
        t[f"{M}.lokr_w2_a"], t[f"{M}.lokr_w2_b"] = rng.standard_normal((5, r + 1)), rng.standard_normal((r + 1, 6))
        dim = r + 1
    else:
        t[f"{M}.lokr_w2_a"], t[f"{M}.lokr_w2_b"] = rng.standard_normal((r, 5)), rng.standard_normal((r, 2))
        t[f"{M}.lokr_t2"] = rng.standard_normal((r, r, 3, 3))
        dim = r
    scale = alpha / dim if dim is not None else 1.0   # both factors whole: alpha is ignored

    def ref(s):
        a = s[f"{M}.lokr_w1"] if w1 == "full" else s[f"{M}.lokr_w1_a"] @ s[f"{M}.lokr_w1_b"]
        if w2 == "full":
            b = s[f"{M}.lokr_w2"]
        elif w2 == "lowrank":
            b = s[f"{M}.lokr_w2_a"] @ s[f"{M}.lokr_w2_b"]
        else:
            b = np.einsum("ijkl,jr,ip->prkl", s[f"{M}.lokr_t2"], s[f"{M}.lokr_w2_b"], s[f"{M}.lokr_w2_a"])
            a = a[:, :, None, None]
        return scale * np.kron(a, b).reshape(a.shape[0] * b.shape[0], -1)
    return t, ref


def full_diff(rng, out=9, inp=7):
    t = {f"{M}.diff": rng.standard_normal((out, inp)), f"{M}.diff_b": rng.standard_normal(out)}
    return t, lambda s: s[f"{M}.diff"]


CASES = {
    "lora": lora, "lora_no_alpha": lambda rng: lora(rng, alpha=None), "lora_wide": lambda rng: lora(rng, out=40, inp=5, r=8),
    "locon": locon, "locon_tucker": locon_tucker, "loha": loha, "loha_wide": loha_wide, "loha_tucker": loha_tucker,
    "lokr_w1_full": lokr, "lokr_w1_decomposed": lambda rng: lokr(rng, w1="lowrank", w2="full"),
    "lokr_both_decomposed": lambda rng: lokr(rng, w1="lowrank"), "lokr_both_full": lambda rng: lokr(rng, w2="full"),
    "lokr_tucker": lambda rng: lokr(rng, w2="tucker"), "full_diff": full_diff,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_figures_equal_dense_reference(case, tmp_path, rng, write_lora):
    tensors, ref = CASES[case](rng)
    stored = write_lora(tmp_path / "f.safetensors", tensors)
    module = only_module(tmp_path / "f.safetensors")
    dw = ref(stored)
    if case == "full_diff":   # the bias change adds to the energy, not to the spectrum
        e, s, r = figures(dw)
        assert module["energy"] == pytest.approx(e + float(np.sum(stored[f"{M}.diff_b"] ** 2)), rel=1e-5)
        assert module["spectral_norm"] == pytest.approx(s, rel=1e-5)
        assert module["effective_rank"] == pytest.approx(r, rel=1e-5)
    else:
        assert_figures(module, dw)
    assert module["approximate"] is False


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32"])
def test_half_precision_inputs_use_the_stored_values(dtype, tmp_path, rng, write_lora):
    tensors, ref = lora(rng, out=30, inp=20, r=4)
    stored = write_lora(tmp_path / "f.safetensors", {k: v * 0.05 for k, v in tensors.items()} | {f"{M}.alpha": np.array(2.0)}, dtype=dtype)
    assert_figures(only_module(tmp_path / "f.safetensors"), ref(stored))


def test_alpha_over_rank_scales_the_energy(tmp_path, rng, write_lora):
    tensors, _ = lora(rng, r=4, alpha=4.0)
    write_lora(tmp_path / "a.safetensors", tensors)
    write_lora(tmp_path / "b.safetensors", tensors | {f"{M}.alpha": np.array(1.0)})
    write_lora(tmp_path / "c.safetensors", {k: v for k, v in tensors.items() if not k.endswith("alpha")})
    a, b, c = (only_module(tmp_path / f"{n}.safetensors") for n in "abc")
    assert b["energy"] == pytest.approx(a["energy"] / 16, rel=1e-6)   # alpha 1, rank 4: scale 1/4
    assert c["energy"] == pytest.approx(a["energy"], rel=1e-6)        # no alpha: scale 1 = alpha 4 / rank 4
    assert b["effective_rank"] == pytest.approx(a["effective_rank"], rel=1e-6)


def test_lokr_with_both_factors_whole_ignores_alpha(tmp_path, rng, write_lora):
    tensors, _ = lokr(rng, w2="full", alpha=3.0)
    write_lora(tmp_path / "a.safetensors", tensors)
    write_lora(tmp_path / "b.safetensors", tensors | {f"{M}.alpha": np.array(100.0)})
    assert only_module(tmp_path / "a.safetensors")["energy"] == only_module(tmp_path / "b.safetensors")["energy"]


def test_dora_reports_the_low_rank_part(tmp_path, rng, write_lora):
    tensors, ref = lora(rng)
    stored = write_lora(tmp_path / "f.safetensors", tensors | {f"{M}.dora_scale": rng.standard_normal((12, 1))})
    result = analyze_file(str(tmp_path / "f.safetensors"), detail=True)
    assert result["dora"] is True and any("DoRA" in n for n in result["notes"])
    assert_figures(result["modules"][0], ref(stored))


# ---------------------------------------------------------------------------------------------
# Changes relative to the base weight


def test_glora_fixed_part_and_relative_part(tmp_path, rng, write_lora):
    out, inp, r, alpha = 7, 5, 2, 3.0
    new = {f"{M}.a1.weight": rng.standard_normal((inp, r)), f"{M}.a2.weight": rng.standard_normal((r, inp)),
           f"{M}.b1.weight": rng.standard_normal((out, r)), f"{M}.b2.weight": rng.standard_normal((r, inp)), f"{M}.alpha": np.array(alpha)}
    s = write_lora(tmp_path / "new.safetensors", new)
    module = only_module(tmp_path / "new.safetensors")
    assert_figures(module, alpha / r * s[f"{M}.b1.weight"] @ s[f"{M}.b2.weight"])
    m = alpha / r * s[f"{M}.a1.weight"] @ s[f"{M}.a2.weight"]      # ΔW = W·m + b1·b2
    e, sn, er = figures(m)
    assert module["relative"]["energy"] == pytest.approx(e / inp, rel=1e-5)
    assert module["relative"]["spectral_norm"] == pytest.approx(sn, rel=1e-5)
    assert module["relative"]["effective_rank"] == pytest.approx(er, rel=1e-5)
    old = {f"{M}.a1.weight": rng.standard_normal((r, inp)), f"{M}.a2.weight": rng.standard_normal((inp, r)),
           f"{M}.b1.weight": rng.standard_normal((r, inp)), f"{M}.b2.weight": rng.standard_normal((out, r)), f"{M}.alpha": np.array(alpha)}
    s = write_lora(tmp_path / "old.safetensors", old)
    module = only_module(tmp_path / "old.safetensors")
    assert_figures(module, alpha / r * s[f"{M}.b2.weight"] @ s[f"{M}.b1.weight"])
    assert module["relative"]["energy"] == pytest.approx(figures(alpha / r * s[f"{M}.a2.weight"] @ s[f"{M}.a1.weight"])[0] / inp, rel=1e-5)
    result = analyze_file(str(tmp_path / "old.safetensors"))
    assert result["units"] == "absolute" and result["relative_energy"] == pytest.approx(module["relative"]["energy"])


def _cayley(blocks, alpha):
    q = blocks - np.swapaxes(blocks, -1, -2)
    if alpha > 0 and np.linalg.norm(q) + 1e-8 > alpha:
        q = q * alpha / (np.linalg.norm(q) + 1e-8)
    eye = np.eye(q.shape[-1])
    return (eye + q) @ np.linalg.inv(eye - q)


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_oft_relative_figures(alpha, tmp_path, rng, write_lora):
    n, b = 3, 4
    s = write_lora(tmp_path / "f.safetensors", {f"{M}.oft_blocks": rng.standard_normal((n, b, b)) * 0.3, f"{M}.alpha": np.array(alpha)})
    r = _cayley(s[f"{M}.oft_blocks"], alpha)
    # comfy oft.py: einsum("k n m, k n ... -> k m ...", R − I, W) on W = I gives the operator A
    a = np.einsum("knm,knx->kmx", r - np.eye(b), np.eye(n * b).reshape(n, b, n * b)).reshape(n * b, n * b)
    result = analyze_file(str(tmp_path / "f.safetensors"), detail=True)
    assert result["units"] == "relative" and any("relative" in x for x in result["notes"])
    rel = result["modules"][0]["relative"]
    e, sn, er = figures(a)
    assert rel["energy"] == pytest.approx(e / (n * b), rel=1e-5)
    assert rel["spectral_norm"] == pytest.approx(sn, rel=1e-5)
    assert rel["effective_rank"] == pytest.approx(er, rel=1e-5)
    assert result["total_energy"] == pytest.approx(e / (n * b), rel=1e-5)


def _butterfly(r, out):
    """comfy boft.py's loop on W = I (numpy spelling of its torch reshapes)."""
    m, _, b, _ = r.shape
    inp = np.eye(out)
    for i in range(m):
        g, k = 2, 2 ** i * (b // 2)
        inp = inp.reshape(-1, g, k, out).transpose(0, 2, 1, 3).reshape(-1, b, out)
        inp = np.einsum("bij,bjn->bin", r[i], inp)
        inp = inp.reshape(-1, k, g, out).transpose(0, 2, 1, 3).reshape(-1, out)
    return inp


@pytest.mark.parametrize("m,nb,b", [(1, 4, 4), (2, 4, 4), (3, 8, 4), (2, 6, 2)])
def test_boft_relative_figures(m, nb, b, tmp_path, rng, write_lora):
    out = nb * b
    s = write_lora(tmp_path / "f.safetensors", {f"{M}.oft_blocks": rng.standard_normal((m, nb, b, b)) * 0.3,
                                                f"{M}.rescale": 1 + 0.1 * rng.standard_normal((out, 1)), f"{M}.alpha": np.array(0.5)})
    a = _butterfly(_cayley(s[f"{M}.oft_blocks"], 0.5), out) * s[f"{M}.rescale"] - np.eye(out)
    rel = only_module(tmp_path / "f.safetensors")["relative"]
    e, sn, er = figures(a)
    assert rel["energy"] == pytest.approx(e / out, rel=1e-5)
    assert rel["spectral_norm"] == pytest.approx(sn, rel=1e-5)
    assert rel["effective_rank"] == pytest.approx(er, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Aggregation


def test_blocks_groups_and_text_encoders_sum_the_modules(tmp_path, rng, write_lora):
    tensors = {}
    for label in ("IN4", "IN4b", "IN5", "MID1", "OUT3", "BASE", "TE"):
        name = SD1_MODULES[label]
        tensors[f"{name}.lora_up.weight"] = rng.standard_normal((8, 2))
        tensors[f"{name}.lora_down.weight"] = rng.standard_normal((2, 6))
        tensors[f"{name}.alpha"] = np.array(1.0)
    write_lora(tmp_path / "f.safetensors", tensors)
    result = analyze_file(str(tmp_path / "f.safetensors"), detail=True)
    by_name = {m["name"]: m for m in result["modules"]}
    energy = {label: by_name[SD1_MODULES[label]]["energy"] for label in ("IN4", "IN4b", "IN5", "MID1", "OUT3", "BASE", "TE")}
    assert [b["name"] for b in result["blocks"]] == inspect_file(str(tmp_path / "f.safetensors")).blocks == ["BASE", "IN4", "IN5", "MID1", "OUT3"]
    blocks = {b["name"]: b for b in result["blocks"]}
    assert blocks["IN4"]["energy"] == pytest.approx(energy["IN4"] + energy["IN4b"])
    assert blocks["IN4"]["modules"] == 2 and blocks["BASE"]["modules"] == 1
    assert blocks["IN4"]["spectral_norm"] == max(by_name[SD1_MODULES[k]]["spectral_norm"] for k in ("IN4", "IN4b"))
    total = sum(energy.values())
    assert result["total_energy"] == pytest.approx(total)
    assert result["clip_share"] == pytest.approx(energy["TE"] / total)
    assert result["text_encoders"]["clip_l"]["energy"] == pytest.approx(energy["TE"])
    assert sum(b["share"] for b in result["blocks"]) + result["clip_share"] == pytest.approx(1.0)
    assert result["groups"]["IN"]["energy"] == pytest.approx(energy["IN4"] + energy["IN4b"] + energy["IN5"])
    assert list(result["groups"]) == ["BASE", "IN", "MID", "OUT"]
    w = [by_name[SD1_MODULES[k]] for k in ("IN4", "IN4b")]
    assert blocks["IN4"]["effective_rank"] == pytest.approx(sum(m["energy"] * m["effective_rank"] for m in w) / sum(m["energy"] for m in w))
    assert result["analysis_version"] == ANALYSIS_VERSION
    json.dumps(result)   # plain data


@pytest.mark.parametrize("name", ["sdxl_partial", "flux_partial", "sd1_lora", "sdxl_locon"])
def test_realistic_files_follow_inspects_positions(name, lora_files):
    path = lora_files(name, sparse=False, rank=2)
    result = analyze_file(path)
    assert result["ok"], result["error"]
    assert [b["name"] for b in result["blocks"]] == inspect_file(path).blocks
    assert sum(b["energy"] for b in result["blocks"]) + sum(t["energy"] for t in result["text_encoders"].values()) == pytest.approx(result["total_energy"])
    assert all(b["energy"] > 0 for b in result["blocks"][1:])


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_fixture_format_is_analysed(name, lora_files):
    """Every format `inspect` knows goes through its adapter's maths (weights are zero holes here)."""
    path = lora_files(name, rank=2)
    result = analyze_file(path)
    assert result["ok"], result["error"]
    assert [b["name"] for b in result["blocks"]] == inspect_file(path).blocks
    assert list(result["text_encoders"]) == inspect_file(path).text_encoder


def test_results_are_deterministic_and_rounded(tmp_path, rng, write_lora):
    tensors, _ = loha(rng)
    write_lora(tmp_path / "f.safetensors", tensors)
    a, b = analyze_file(str(tmp_path / "f.safetensors")), analyze_file(str(tmp_path / "f.safetensors"))
    assert a == b
    rounded = round_figures(a)
    assert rounded["total_energy"] == float(f"{a['total_energy']:.6g}")


def test_huge_dense_diff_is_sketched(tmp_path, rng, monkeypatch, write_lora):
    monkeypatch.setattr(change_forms, "EXACT_LIMIT", 8)
    monkeypatch.setattr(change_forms, "SKETCH", 10)
    low = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))
    s = write_lora(tmp_path / "f.safetensors", {f"{M}.diff": low + 1e-3 * rng.standard_normal((40, 30))})
    module = only_module(tmp_path / "f.safetensors")
    e, sn, er = figures(s[f"{M}.diff"])
    assert module["approximate"] is True
    assert module["energy"] == pytest.approx(e, rel=1e-5)
    assert module["spectral_norm"] == pytest.approx(sn, rel=1e-4)
    assert module["effective_rank"] == pytest.approx(er, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# Bad input: a per-file error, never an exception


def _bad(tmp_path, tensors, write_lora, dtype="F32"):
    write_lora(tmp_path / "f.safetensors", tensors, dtype=dtype)
    result = analyze_file(str(tmp_path / "f.safetensors"))
    assert result["ok"] is False and result["blocks"] is None
    return result


def test_rank_mismatch_names_the_tensor(tmp_path, rng, write_lora):
    r = _bad(tmp_path, {f"{M}.lora_up.weight": rng.standard_normal((8, 3)), f"{M}.lora_down.weight": rng.standard_normal((2, 6))}, write_lora)
    assert r["error_code"] == "bad_shapes" and f"{M}.lora_up.weight" in r["error"]


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(bad, dtype, tmp_path, rng, write_lora):
    down = rng.standard_normal((2, 6))
    down[1, 3] = bad
    r = _bad(tmp_path, {f"{M}.lora_up.weight": rng.standard_normal((8, 2)), f"{M}.lora_down.weight": down},
             write_lora, dtype=dtype)
    assert r["error_code"] == "non_finite" and f"{M}.lora_down.weight" in r["error"]


def test_non_finite_in_a_small_core(tmp_path, rng, write_lora):
    tensors, _ = locon_tucker(rng)
    tensors[f"{C}.lora_mid.weight"][0, 0, 1, 1] = np.nan
    assert _bad(tmp_path, tensors, write_lora)["error_code"] == "non_finite"


def test_integer_weights_are_unsupported(tmp_path, rng, write_lora):
    from lora_atlas.demo.safetensors_writer import write
    write(str(tmp_path / "f.safetensors"), [(f"{M}.lora_up.weight", "I32", (8, 2), np.ones((8, 2))),
                                            (f"{M}.lora_down.weight", "I32", (2, 6), np.ones((2, 6)))], SD1)
    r = analyze_file(str(tmp_path / "f.safetensors"))
    assert r["ok"] is False and r["error_code"] == "unsupported_dtype" and "I32" in r["error"]


def test_wrong_factor_shapes(tmp_path, rng, write_lora):
    t, _ = loha(rng)
    t[f"{M}.hada_w2_b"] = rng.standard_normal((3, 17))
    assert _bad(tmp_path, t, write_lora)["error_code"] == "bad_shapes"
    t, _ = lokr(rng, w2="tucker")
    t[f"{M}.lokr_t2"] = rng.standard_normal((2, 5, 3, 3))
    assert _bad(tmp_path, t, write_lora)["error_code"] == "bad_shapes"
    t = {f"{M}.oft_blocks": rng.standard_normal((2, 3, 3, 3)), f"{M}.alpha": np.array(1.0)}   # odd BOFT blocks
    assert _bad(tmp_path, t, write_lora)["error_code"] == "bad_shapes"


@pytest.mark.parametrize("up, down", [((4, 0), (0, 4)), ((0, 4), (4, 0)), ((8, 2), (2, 0))])
def test_zero_dimensions_are_bad_shapes(up, down, tmp_path, write_lora):
    # (0, 4)·(4, 0) used to end in "analysis failed: integer division or modulo by zero".
    tensors = {f"{M}.lora_up.weight": np.zeros(up), f"{M}.lora_down.weight": np.zeros(down), f"{M}.alpha": np.array(1.0)}
    r = _bad(tmp_path, tensors, write_lora)
    assert r["error_code"] == "bad_shapes" and "zero dimension" in r["error"], r["error"]
    insp = inspect_file(str(tmp_path / "f.safetensors"))
    assert (insp.ok, insp.error_code) == (False, "bad_shapes") and M in insp.error


def test_what_inspect_rejects_is_rejected_the_same_way(tmp_path, write_lora):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "model.ckpt").write_bytes(b"PK\x03\x04")
    for name in ("empty.safetensors", "model.ckpt", "missing.safetensors"):
        path = str(tmp_path / name)
        r, i = analyze_file(path), inspect_file(path)
        assert (r["ok"], r["error"], r["error_code"]) == (False, i.error, i.error_code)


def test_modules_comfyui_does_not_load_are_not_measured(tmp_path):
    """Analysis measures what ComfyUI applies: the diffusers-named SDXL attention projections it does
    not map (560 of 986 modules in this file) count nowhere, as they take no Inspire position."""
    path = write_fixture("sdxl_peft", str(tmp_path / "peft.safetensors"), rank=1, seed=0)
    r = analyze_file(path)
    assert r["ok"], r["error"]
    measured = sum(b["modules"] for b in r["blocks"]) + sum(t["modules"] for t in r["text_encoders"].values())
    assert measured == 986 - 560
    assert [b["name"] for b in r["blocks"]] == inspect_file(path).blocks


@pytest.mark.parametrize("out, inner, rank", [(1, 1, 4000), (3, 200, 1500), (200, 3, 1500)])
def test_a_rank_above_the_layer_is_measured_from_the_smaller_side(tmp_path, write_lora, rng, out, inner, rank):
    """Issue 13 item 3: a 16 KB file with one module of rank 4,000 (out = in = 1) took 43 s and
    815 MB: its r × r Grams cost O(r³). ΔW is then no larger than the stored factors, so it is
    measured directly: same exact energy, bounded time and memory."""
    import time
    import tracemalloc
    module = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    up, down = rng.standard_normal((out, rank)) / 50, rng.standard_normal((rank, inner)) / 50
    stored = write_lora(tmp_path / "wide.safetensors", {f"{module}.lora_up.weight": up,
                                                        f"{module}.lora_down.weight": down})
    tracemalloc.start()                               # numpy reports its buffers to tracemalloc
    t = time.perf_counter()
    result = analyze_file(str(tmp_path / "wide.safetensors"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t < 5 and peak < 32 << 20
    delta = stored[f"{module}.lora_up.weight"] @ stored[f"{module}.lora_down.weight"]
    assert result["ok"] and result["total_energy"] == pytest.approx(float(np.sum(delta ** 2)), rel=1e-5)
    block = next(b for b in result["blocks"] if b["name"] == "IN4")
    assert block["spectral_norm"] == pytest.approx(float(np.linalg.norm(delta, 2)), rel=1e-4)
    assert block["effective_rank"] <= min(out, inner) + 1e-9
