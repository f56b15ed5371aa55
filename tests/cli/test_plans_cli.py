"""`plan --save/--template/--from-plan`, `plans ...`, `profiles ...`, `export-blocks` on a copy of
the demo library: byte-identical show, warm plans in a new process, bad names as exit 2."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from lora_atlas.cli import main

INK = "styles/ink_sketch_xl.safetensors"
PONY = "characters/red_hair_girl_pony.safetensors"
LOCON = "concepts/detail_tweaker_locon.safetensors"


@pytest.fixture
def demo(library_copy):
    return library_copy("demo")


def test_save_show_export_history_delete(demo, run_cli, tmp_path):
    args = ["plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", "--root", demo, "--json"]
    code, out, _ = run_cli(*args, "--save", "duo")
    assert code == 0
    code, shown, _ = run_cli("plans", "show", "duo", "--root", demo, "--json")
    assert code == 0 and shown == out                       # byte-identical, nothing recomputed
    code, listed, _ = run_cli("plans", "list", "--root", demo, "--json")
    assert [p["name"] for p in json.loads(listed)] == ["duo"]
    code, text, _ = run_cli("plans", "show", "1", "--root", demo)
    assert "saved plan 'duo' (id 1" in text and "block_vector" in text
    target = tmp_path / "duo.csv"
    assert run_cli("plans", "export", "duo", "--format", "csv", "--out", target, "--root", demo)[0] == 0
    rows = list(csv.reader(open(target, newline="")))
    assert rows[0] == ["lora", "position", "ratio", "strength_model", "strength_clip", "block_vector"]
    code, exported, _ = run_cli("plans", "export", "duo", "--root", demo)
    assert exported == out
    run_cli("plan", demo / INK, demo / PONY, "--root", demo)
    code, hist, _ = run_cli("plans", "history", "--root", demo, "--json")
    items = json.loads(hist)
    assert len(items) == 2 and items[1]["plan_id"] == 1 and items[0]["plan_id"] is None
    code, entry, _ = run_cli("plans", "history", "--id", items[1]["id"], "--root", demo, "--json")
    assert entry == out
    assert run_cli("plans", "delete", "duo", "--root", demo)[0] == 0
    code, _, err = run_cli("plans", "show", "duo", "--root", demo)
    assert code == 2 and "no saved plan named 'duo'" in err


def test_unknown_names_and_bad_input_exit_2(demo, run_cli):
    run_cli("profiles", "set", "soft", "OUT=0.5", "--root", demo)
    for argv, bit in [
        (["plans", "export", "nope"], "no saved plan named 'nope'"),
        (["plans", "templates", "show", "nope"], "no template named 'nope'"),
        (["profiles", "show", "nope"], "no profile named 'nope'; known: soft"),
        (["profiles", "delete", "nope"], "no profile named"),
        (["profiles", "set", "bad", "OUTX=1"], "not a block label"),
        (["profiles", "set", "bad", "OUT"], "expected BLOCK=VALUE"),
        (["plans", "templates", "set", "t", "--policy", "loud"], "unknown policy"),
        (["plans", "templates", "set", "t", "--profile", "styles:nope"], "no profile named 'nope'"),
        (["plan", demo / INK, "--template", "nope"], "no template named 'nope'"),
        (["plan", demo / INK, "--from-plan", "nope"], "no saved plan named 'nope'"),
        (["plan", demo / INK, "--profile", "1:nope"], "no profile named 'nope'"),
    ]:
        code, _, err = run_cli(*argv, "--root", demo)
        assert code == 2 and bit in err, (argv, err)
    code, _, err = run_cli("plans", "list", "--root", demo / "missing")
    assert code == 2 and "not a folder" in err
    run_cli("plan", demo / INK, "--root", demo, "--save", "one")
    code, _, err = run_cli("plan", demo / INK, "--root", demo, "--save", "one")
    assert code == 2 and "a plan named 'one' exists" in err


def test_profiles_and_templates_in_plans(demo, run_cli):
    assert run_cli("profiles", "set", "soft-out", "OUT=0.5,DOUBLE3=0", "--root", demo)[0] == 0
    code, out, _ = run_cli("profiles", "list", "--root", demo, "--json")
    assert json.loads(out)[0]["multipliers"] == {"DOUBLE3": 0.0, "OUT": 0.5}
    code, out, _ = run_cli("plan", demo / INK, demo / PONY, "--profile", "2:soft-out", "--root", demo, "--json")
    plan = json.loads(out)
    assert plan["loras"][1]["profile"] == {"name": "soft-out", "multipliers": {"DOUBLE3": 0.0, "OUT": 0.5}}
    assert any("names block(s) this file does not have: DOUBLE3" in w for w in plan["warnings"])
    assert run_cli("plans", "templates", "set", "portrait", "--policy", "role-priority", "--headroom", "0.2",
                   "--roles", "styles,characters", "--profile", "characters:soft-out", "--root", demo)[0] == 0
    code, out, _ = run_cli("plans", "templates", "list", "--root", demo)
    assert "portrait" in out and "role-priority" in out
    code, out, _ = run_cli("plan", demo / INK, demo / PONY, "--template", "portrait", "--policy", "balanced",
                           "--root", demo, "--json")
    plan = json.loads(out)
    assert plan["policy"] == "balanced" and plan["headroom"] == 0.2 and plan["role_order"] == ["styles", "characters"]
    assert plan["loras"][1]["profile"]["name"] == "soft-out" and plan["loras"][0]["profile"] is None
    assert run_cli("plans", "templates", "delete", "portrait", "--root", demo)[0] == 0
    assert run_cli("profiles", "delete", "soft-out", "--root", demo)[0] == 0


def test_from_plan_with_moved_and_vanished_files(demo, run_cli):
    run_cli("plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", demo / f"{LOCON}:0.5", "--policy", "role-priority",
            "--root", demo, "--save", "trio")
    os.makedirs(demo / "archive")
    os.rename(demo / INK, demo / "archive" / "ink.safetensors")
    code, out, err = run_cli("plans", "show", "trio", "--root", demo, "--json")
    assert code == 0 and "moved to" in err and json.loads(out)["loras"][0]["path"] == str(demo / "archive" / "ink.safetensors")
    code, out, err = run_cli("plan", "--from-plan", "trio", "--root", demo, "--json")
    plan = json.loads(out)
    assert code == 0 and "moved to" in err and plan["policy"] == "role-priority"
    assert [lo["input"]["strength_model"] for lo in plan["loras"]] == [0.8, 0.9, 0.5]
    os.remove(demo / LOCON)
    code, _, err = run_cli("plans", "show", "trio", "--root", demo)
    assert code == 1 and f"{LOCON}: vanished" in err
    code, _, err = run_cli("plan", "--from-plan", "trio", "--root", demo)
    assert code == 2 and f"{LOCON}: vanished" in err


def test_second_plan_in_a_new_process_is_warm(demo, run_cli):
    args = ["plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", "--root", demo, "--json"]
    code, first, _ = run_cli(*args)
    script = ("import sys\nfrom lora_atlas.engine import plan_cache\n"
              "def boom(*a): raise SystemExit('recomputed')\n"
              "plan_cache.stack_gram = boom\nfrom lora_atlas.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script] + [str(a) for a in args], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == first


def test_export_blocks(demo, run_cli, tmp_path):
    code, out, _ = run_cli("export-blocks", demo)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("path,id,architecture,adapter,kind,block,energy")
    assert any(line.startswith(INK + ",") for line in lines)
    code, again, _ = run_cli("export-blocks", demo)
    assert again == out
    code, js, _ = run_cli("export-blocks", demo, "--format", "json")
    assert len(json.loads(js)) == len(lines) - 1
    code, _, err = run_cli("export-blocks", tmp_path / "nowhere")
    assert code == 2 and "not a folder" in err


def test_help_has_examples(capsys):
    for argv in (["plans", "--help"], ["profiles", "--help"], ["export-blocks", "--help"],
                 ["plans", "templates", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "Example:" in capsys.readouterr().out
