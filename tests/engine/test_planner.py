"""The multi-LoRA planner (issue 5): policies on LoRAs with known overlaps, the budget recomputed
independently (engine.interference pair by pair), the text-encoder rule, profiles, the stack
Gram in one pass, the cache, and bad input."""

from __future__ import annotations

import math
import os

import numpy as np
import orjson
import pytest

from lora_atlas.engine.block_vectors import MIN_ENTRIES, parse_inspire, populate
from lora_atlas.engine.interference import interference, stack_gram
from lora_atlas.engine.plan_budget import solve_tiers
from lora_atlas.engine.plan_cache import PlanCache
from lora_atlas.engine.plan_stack import plan_files
from lora_atlas.engine.planner import PlanError
from lora_atlas.demo.synthetic_loras import write_fixture

IN4 = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
IN4B = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_k"
OUT3 = "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
TE = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
OUT, INP = 12, 10


def lora(module, up, down, alpha=None):
    t = {f"{module}.lora_up.weight": up, f"{module}.lora_down.weight": down}
    if alpha is not None:
        t[f"{module}.alpha"] = np.array(alpha)
    return t


def unit(i, n):
    v = np.zeros((n, 1))
    v[i] = 1.0
    return v


def budget_ok(plan, headroom=None):
    """Recompute every shared block's Gram from interference() and check the planned weights."""
    headroom = plan["headroom"] if headroom is None else headroom
    loras = plan["loras"]
    n = len(loras)
    G: dict = {}
    for i in range(n):
        for j in range(i, n):
            r = interference(loras[i]["path"], loras[j]["path"])
            assert r["ok"], r["error"]
            for b in r["blocks"]:
                g = G.setdefault(b["name"], np.zeros((n, n)))
                g[i, i], g[j, j] = b["energy_a"], b["energy_b"]
                g[i, j] = g[j, i] = b["inner"]
    for name, g in G.items():
        c = np.array([lo["strength_model"] for lo in loras])
        r = np.array([next((b["ratio"] for b in lo["blocks"] if b["block"] == name), 1.0) for lo in loras])
        budget = (1 + headroom) * max(c[i] ** 2 * g[i, i] for i in range(n))
        after = (c * r) @ g @ (c * r)
        assert after <= budget * (1 + 1e-6) + 1e-12, (name, after, budget)
    return G


@pytest.fixture
def files(tmp_path, write_lora, rng):
    """Hand-made SD1 LoRAs with exactly known overlaps."""
    up, down = rng.standard_normal((OUT, 1)), rng.standard_normal((1, INP))
    paths = {}

    def put(name, tensors):
        folder = tmp_path / "loras" / name.split("/")[0]
        folder.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "loras" / name
        write_lora(path, tensors)
        paths[name.split("/")[1].split(".")[0]] = str(path)

    put("characters/same_a.safetensors", lora(IN4, up, down) | lora(OUT3, up, down))
    put("styles/same_b.safetensors", lora(IN4, up, down) | lora(OUT3, up, down))
    # orthogonal in IN4: rank-1 changes on disjoint rows
    put("characters/orth_a.safetensors", lora(IN4, unit(0, OUT), unit(0, INP).T))
    put("styles/orth_b.safetensors", lora(IN4, unit(1, OUT), unit(1, INP).T))
    # partially shared: IN4 shared, OUT3 only in a, IN4B only in b; b has a text encoder
    put("concepts/part_a.safetensors", lora(IN4, up, down) | lora(OUT3, up, down))
    put("styles/part_b.safetensors", lora(IN4, up, down) | lora(IN4B, up, down) | lora(TE, up, down))
    put("poses/te_only_c.safetensors", lora(IN4, 2 * up, down) | lora(TE, up, down))
    return paths


def by_block(lo):
    return {b["block"]: b for b in lo["blocks"]}


def test_identical_loras_share_one_factor(files):
    plan = plan_files([(files["same_a"], 1.0, None), (files["same_b"], 1.0, None)], policy="balanced", headroom=0.5)
    s = math.floor(math.sqrt(1.5 / 4) * 1e4) / 1e4          # E = (1+1)² e, budget 1.5 e
    for lo in plan["loras"]:
        assert by_block(lo)["IN4"]["ratio"] == s and by_block(lo)["OUT3"]["ratio"] == s
        assert "common factor" in by_block(lo)["IN4"]["reason"]
    row = {r["name"]: r for r in plan["stack"]["blocks"]}["IN4"]
    assert row["energy_after"] == pytest.approx(row["budget"], rel=1e-3) and row["energy_after"] <= row["budget"]
    budget_ok(plan)


def test_orthogonal_loras_count_less(files):
    plan = plan_files([(files["orth_a"], 1.0, None), (files["orth_b"], 1.0, None)], policy="balanced")
    s = math.floor(math.sqrt(1.5 / 2) * 1e4) / 1e4           # E = 2 e (no cross term)
    assert [by_block(lo)["IN4"]["ratio"] for lo in plan["loras"]] == [s, s]
    budget_ok(plan)
    loose = plan_files([(files["orth_a"], 1.0, None), (files["orth_b"], 1.0, None)], headroom=1.0)
    assert all(by_block(lo)["IN4"]["ratio"] == 1 for lo in loose["loras"])   # 2e within 2e


def test_partial_overlap_and_text_encoder_rule(files):
    plan = plan_files([(files["part_a"], 0.8, None), (files["part_b"], 1.0, 0.6)], policy="balanced")
    a, b = plan["loras"]
    assert by_block(a)["OUT3"]["ratio"] == 1 and by_block(a)["OUT3"]["reason"] == "only LoRA in this block"
    assert by_block(a)["IN4"]["ratio"] < 1 and by_block(a)["IN4"]["ratio"] == by_block(b)["IN4"]["ratio"]
    assert a["strength_clip"] == 0 and any("no text-encoder weights" in n for n in a["notes"])
    assert b["strength_clip"] == 0.6 and b["text_encoder_scale"] == 0.6
    budget_ok(plan)


def test_role_priority_keeps_the_higher_role(files):
    specs = [(files["same_b"], 1.0, None), (files["same_a"], 1.0, None)]      # styles first, characters second
    roles = {files["same_b"]: "styles", files["same_a"]: "characters"}     # the library reads them from folders
    plan = plan_files(specs, policy="role-priority", roles=roles)
    style, character = plan["loras"]
    assert (style["role"], character["role"]) == ("styles", "characters")
    assert by_block(character)["IN4"]["ratio"] == 1 and "keeps its weight" in by_block(character)["IN4"]["reason"]
    # identical changes: (1 + s)² e = 1.5 e -> s = √1.5 − 1
    assert by_block(style)["IN4"]["ratio"] == math.floor((math.sqrt(1.5) - 1) * 1e4) / 1e4
    budget_ok(plan)
    flipped = plan_files(specs, policy="role-priority", role_order=("styles", "characters"), roles=roles)
    assert by_block(flipped["loras"][0])["IN4"]["ratio"] == 1


def test_solve_tiers_quadratic_cases():
    G = [[1.0, 0.0], [0.0, 1.0]]
    f, _ = solve_tiers(G, [1.0, 1.0], [[0], [1]], 1.5)
    assert f == {0: 1.0, 1: math.floor(math.sqrt(0.5) * 1e4) / 1e4}
    f, _ = solve_tiers(G, [2.0, 1.0], [[0], [1]], 1.5)       # the first tier alone exceeds: nothing left
    assert f[0] == math.floor(math.sqrt(1.5 / 4) * 1e4) / 1e4 and f[1] < 0.02       # only the rounding slack
    assert (2 * f[0]) ** 2 + f[1] ** 2 <= 1.5
    anti = [[1.0, -1.0], [-1.0, 1.0]]                          # cancelling changes never need scaling
    f, _ = solve_tiers(anti, [1.0, 1.0], [[0, 1]], 1.5)
    assert f == {0: 1.0, 1: 1.0}


def test_profiles_and_the_base_ratio(files):
    plan = plan_files([(files["part_a"], 1.0, None), (files["te_only_c"], 1.0, 0.5)], policy="none",
                      profiles={files["te_only_c"]: ("soft", {"BASE": 0.5, "IN": 0.25, "OUT7": 1}),
                                files["part_a"]: ("p", {"OUT3": 0})})
    a, c = plan["loras"]
    assert by_block(a)["OUT3"]["ratio"] == 0 and by_block(a)["IN4"]["ratio"] == 1
    assert by_block(c)["IN4"]["ratio"] == 0.25 and by_block(c)["BASE"]["ratio"] == 0.5
    assert c["strength_clip"] == 1.0 and c["text_encoder_scale"] == 0.5     # 0.5 / BASE 0.5
    assert c["block_vector"].startswith("0.5,")
    assert any("OUT7" in w and "does not have" in w for w in plan["warnings"])
    muted = plan_files([(files["te_only_c"], 1.0, None)], profiles={files["te_only_c"]: (None, {"BASE": 0})})
    assert muted["loras"][0]["strength_clip"] == 0
    assert any("mutes its text encoders" in w for w in muted["warnings"])


def test_none_is_pass_through(files):
    plan = plan_files([(files["same_a"], 0.7, None), (files["same_b"], -0.4, 0.3)], policy="none")
    for lo, (c, k) in zip(plan["loras"], [(0.7, 0.7), (-0.4, 0.3)]):
        assert lo["strength_model"] == c and lo["strength_clip"] == k
        assert set(lo["block_vector"].split(",")) == {"1"}


@pytest.mark.parametrize("policy", ["none", "balanced", "role-priority"])
def test_fixture_stacks_vectors_and_budget(tmp_path, policy):
    """SDXL standard + partial (merged MID1+OUT1) + LoCon, and Flux full + single + partial."""
    stacks = {
        "sdxl": [("sdxl_lora", "styles"), ("sdxl_partial", "characters"), ("sdxl_locon", "concepts")],
        "flux": [("flux_lora", "characters"), ("flux_single", "styles"), ("flux_partial", "poses")],
    }
    for arch, items in stacks.items():
        specs, roles = [], {}
        for seed, (name, role) in enumerate(items):
            (tmp_path / arch / role).mkdir(parents=True, exist_ok=True)
            specs.append((write_fixture(name, str(tmp_path / arch / role / f"{name}.safetensors"), rank=2, seed=seed),
                          1.0, None))
            roles[specs[-1][0]] = role
        plan = plan_files(specs, policy=policy, roles=roles)
        for lo in plan["loras"]:
            entries = parse_inspire(lo["block_vector"])
            assert len(entries) == max(MIN_ENTRIES, len(lo["positions"]))
            assert lo["filler"] == max(0, MIN_ENTRIES - len(lo["positions"]))
            want = [next(b["ratio"] for b in lo["blocks"] if b["position"] == p) for p in lo["positions"]]
            assert populate(lo["block_vector"], lo["positions"]) == want
        if policy != "none":
            budget_ok(plan)
        partial = plan["loras"][1] if arch == "sdxl" else plan["loras"][2]
        if arch == "sdxl":
            assert partial["positions"] == ["BASE", "IN8", "MID1+OUT1"] and partial["filler"] == 9
        if arch == "flux":
            assert partial["positions"] == ["BASE", "DOUBLE7", "DOUBLE8", "DOUBLE9+SINGLE9", "SINGLE20"]


def test_stack_gram_matches_pairwise_interference(tmp_path):
    paths = [write_fixture("sdxl_lora", str(tmp_path / "a.safetensors"), rank=3, seed=1),
             write_fixture("sdxl_partial", str(tmp_path / "b.safetensors"), rank=2, seed=2),
             write_fixture("sdxl_loha", str(tmp_path / "c.safetensors"), rank=2, seed=3),
             write_fixture("sdxl_lora", str(tmp_path / "d.safetensors"), rank=3, seed=1)]
    g = stack_gram(paths)
    assert g["ok"], g["error"]
    for i in range(4):
        for j in range(i + 1, 4):
            r = interference(paths[i], paths[j])
            for b in r["blocks"]:
                G = g["blocks"][b["name"]]
                assert G[i][j] == pytest.approx(b["inner"], rel=1e-5, abs=1e-9)
                assert G[i][i] == pytest.approx(b["energy_a"], rel=1e-5)
                assert G[j][j] == pytest.approx(b["energy_b"], rel=1e-5)
    assert g["blocks"]["IN8"][0][3] == pytest.approx(g["blocks"]["IN8"][0][0], rel=1e-6)   # identical files
    assert g["text_encoders"]["clip_g"][0][3] == pytest.approx(g["text_encoders"]["clip_g"][0][0], rel=1e-6)


def test_determinism_and_the_cache(files):
    specs = [(files["part_a"], 0.8, None), (files["part_b"], 1.0, 0.6), (files["te_only_c"], 0.5, None)]
    cache = PlanCache()
    first = plan_files(specs, cache=cache)
    assert cache.computed == 1
    again = plan_files(specs, cache=cache)
    assert cache.computed == 1                                  # warm: nothing read
    restored = plan_files(specs, cache=PlanCache.from_dict(orjson.loads(orjson.dumps(cache.to_dict()))))
    fresh = plan_files(specs)
    dump = [orjson.dumps(p, option=orjson.OPT_SORT_KEYS) for p in (first, again, restored, fresh)]
    assert len(set(dump)) == 1
    # a subset is served from the pair cache too
    plan_files(specs[:2], cache=cache)
    assert cache.computed == 1
    # a file that changed is recomputed, and the plan says so
    st = os.stat(files["te_only_c"])
    os.utime(files["te_only_c"], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    changed = plan_files(specs, cache=cache)
    assert cache.computed == 2
    assert any("changed since" in w for w in changed["warnings"])


def test_bad_input_is_refused_with_every_reason(files, tmp_path):
    with pytest.raises(PlanError) as err:
        plan_files([(files["part_a"], "x", None), (files["part_b"], 11, "nan"), (files["part_a"], 1, None)],
                   policy="loud", headroom=-1)
    text = str(err.value)
    for bit in ("'x' is not a number", "outside Inspire's range", "not a finite number", "listed twice",
                "unknown policy 'loud'", "headroom"):
        assert bit in text, bit
    with pytest.raises(PlanError, match="empty stack"):
        plan_files([])
    with pytest.raises(PlanError, match="empty stack"):
        plan_files([(str(tmp_path / "missing.safetensors"), 1, None)])
    single = plan_files([(files["part_a"], 1, None)])
    assert any("one LoRA alone" in w for w in single["warnings"])
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 5)
    plan = plan_files([(files["part_a"], 1, None), (str(broken), 1, None), (files["part_b"], 1, None)])
    assert [x["path"] for x in plan["excluded"]] == [str(broken)] and len(plan["loras"]) == 2


def test_architecture_mismatch_names_the_file(tmp_path, files):
    flux = write_fixture("flux_single", str(tmp_path / "f.safetensors"), rank=1, sparse=True)
    with pytest.raises(PlanError, match=r"f\.safetensors is flux, but the stack is sd1"):
        plan_files([(files["part_a"], 1, None), (flux, 1, None)])


def test_sdxl_hints_differ_and_inspire_drops(tmp_path):
    a = write_fixture("sdxl_pony", str(tmp_path / "a.safetensors"), rank=1, seed=1)
    b = write_fixture("sdxl_illustrious", str(tmp_path / "b.safetensors"), rank=1, seed=2)
    plan = plan_files([(a, 1, None), (b, 1, None)])
    assert any("different bases (illustrious, pony)" in w for w in plan["warnings"])
    s = [write_fixture("sd3_lora", str(tmp_path / f"s{i}.safetensors"), rank=1, seed=i) for i in range(2)]
    plan = plan_files([(p, 1, None) for p in s])
    assert all(lo["positions"] == ["BASE"] and lo["filler"] == 11 for lo in plan["loras"])
    assert sum("context_block" in w for w in plan["warnings"]) == 2


def test_text_encoders_stay_within_budget_after_rounding(files):
    """Two LoRAs whose text encoders reinforce each other, one with a BASE ratio that makes
    strength_clip = τ / BASE a long decimal: the applied scales strength_clip × BASE must keep the
    encoder's combined energy within its budget (rounding toward zero, never up)."""
    a, b = files["part_b"], files["te_only_c"]
    r = interference(a, b)
    (name, pair), = r["text_encoders"].items()
    g = np.array([[pair["energy_a"], pair["inner"]], [pair["inner"], pair["energy_b"]]])
    over = []
    for step in range(1, 40):
        base_b, k = round(0.17 + step * 0.0213, 4), np.array([0.9, 0.7 + step * 0.00731])
        plan = plan_files([(a, 1.0, float(k[0])), (b, 1.0, float(k[1]))], policy="balanced", headroom=0.1,
                          profiles={b: ("odd", {"BASE": base_b}), a: ("odd", {"BASE": 0.77})})
        scales = np.array([lo["strength_clip"] * next(x["ratio"] for x in lo["blocks"] if x["block"] == "BASE")
                           for lo in plan["loras"]])
        budget = 1.1 * max(k[i] ** 2 * g[i, i] for i in range(2))
        assert all(s > 0 for s in scales)
        if scales @ g @ scales > budget * (1 + 1e-12):
            over.append((base_b, scales @ g @ scales - budget))
    assert not over, over
