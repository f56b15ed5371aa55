"""`lora-atlas plan`: the JSON contract of DESIGN.md, byte-identical across processes, roles from
the demo library's folders, the terminal table, and bad input as exit 2 with every reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lora_atlas.cli import main
from lora_atlas.engine.block_vectors import parse_inspire

CONTRACT = {"schema_version", "policy", "loras", "warnings", "excluded", "stack", "architecture", "headroom"}
LORA = {"path", "strength_model", "strength_clip", "block_vector", "lbw", "blocks", "role", "positions",
        "text_encoder_scale", "notes", "a1111"}


@pytest.fixture
def demo(library_copy):
    return library_copy("demo")


def test_json_contract_roles_and_determinism(demo, run_cli):
    args = ["plan", f"{demo}/styles/ink_sketch_xl.safetensors:0.8:0.5", f"{demo}/characters/red_hair_girl_pony.safetensors:0.9",
            f"{demo}/concepts/detail_tweaker_locon.safetensors", "--policy", "role-priority", "--json"]
    code, out, _ = run_cli(*args)
    assert code == 0
    plan = json.loads(out)
    assert CONTRACT <= set(plan) and plan["policy"] == "role-priority" and plan["schema_version"] == 1
    assert [lo["role"] for lo in plan["loras"]] == ["styles", "characters", "concepts"]
    for lo in plan["loras"]:
        assert LORA <= set(lo)
        parse_inspire(lo["block_vector"])
    style, character, concept = plan["loras"]
    assert style["input"] == {"strength_model": 0.8, "strength_clip": 0.5} and style["strength_clip"] == 0.5
    assert character["strength_clip"] == 0 and len(concept["positions"]) == 21 and len(concept["lbw"].split(",")) == 20
    assert any("different bases" in w for w in plan["warnings"])
    # same bytes in another process
    env = dict(os.environ, PYTHONHASHSEED="123")
    other = subprocess.run([sys.executable, "-m", "lora_atlas"] + args, capture_output=True, env=env, check=True)
    assert other.stdout.decode() == out


def test_terminal_output(demo, run_cli):
    code, out, _ = run_cli("plan", f"{demo}/characters/portrait_flux.safetensors:0.9",
                           f"{demo}/concepts/sharp_single_blocks.safetensors", "--profile", "2:SINGLE=0.5")
    assert code == 0
    assert "block_vector" in out and "strength_clip 0.9" in out and "profile SINGLE ×0.5" in out
    assert "stack (blocks shared by several LoRAs)" in out and "A1111" in out


def test_explicit_root_and_role_override(demo, run_cli):
    code, out, _ = run_cli("plan", f"{demo}/styles/ink_sketch_xl.safetensors",
                           f"{demo}/styles/pastel_illustrious.safetensors", "--role", "2=characters", "--json",
                           "--root", str(demo))
    plan = json.loads(out)
    assert [lo["role"] for lo in plan["loras"]] == ["styles", "characters"]


@pytest.mark.parametrize("argv, bits", [
    (["--policy", "loud"], ["unknown policy 'loud'"]),
    (["--headroom", "x"], ["headroom"]),
    (["--profile", "9:OUT=1"], ["--profile '9:OUT=1'"]),
    (["--profile", "1:OUT"], ["BLOCK=VALUE"]),
])
def test_bad_options(demo, run_cli, argv, bits):
    code, _, err = run_cli("plan", f"{demo}/styles/ink_sketch_xl.safetensors", *argv)
    assert code == 2
    for bit in bits:
        assert bit in err


def test_bad_stacks(demo, run_cli):
    code, out, _ = run_cli("plan", f"{demo}/styles/ink_sketch_xl.safetensors:abc",
                           f"{demo}/styles/ink_sketch_xl.safetensors:1", f"{demo}/characters/portrait_flux.safetensors", "--json")
    assert code == 2
    doc = json.loads(out)
    assert set(doc) == {"error", "problems"}
    text = " ".join(doc["problems"])
    assert "'abc' is not a number" in text and "listed twice" in text and "portrait_flux.safetensors is flux" in text
    code, _, err = run_cli("plan")
    assert code == 2 and "empty stack" in err
    code, out, _ = run_cli("plan", f"{demo}/styles/ink_sketch_xl.safetensors", f"{demo}/empty.safetensors",
                           f"{demo}/old_format.ckpt", "--json")
    plan = json.loads(out)
    assert code == 0 and {x["error_code"] for x in plan["excluded"]} == {"empty", "pickle"}
    assert any("one LoRA alone" in w for w in plan["warnings"])


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    assert "Example:" in capsys.readouterr().out


def test_parse_spec_reads_strength_and_clip():
    from lora_atlas.cli.plan_cmd import parse_spec
    assert parse_spec("a.safetensors:0.5:0.25") == ("a.safetensors", "0.5", "0.25")
    assert parse_spec("a.safetensors:0.5") == ("a.safetensors", "0.5", None)
    assert parse_spec("a.safetensors") == ("a.safetensors", None, None)
