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


def _run(capsysbinary, *argv):
    code = main([str(a) for a in argv])
    out = capsysbinary.readouterr()
    return code, out.out.decode(), out.err.decode()


@pytest.fixture
def demo(library_copy):
    return library_copy("demo")


def test_save_show_export_history_delete(demo, capsysbinary, tmp_path):
    args = ["plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", "--root", demo, "--json"]
    code, out, _ = _run(capsysbinary, *args, "--save", "duo")
    assert code == 0
    code, shown, _ = _run(capsysbinary, "plans", "show", "duo", "--root", demo, "--json")
    assert code == 0 and shown == out                       # byte-identical, nothing recomputed
    code, listed, _ = _run(capsysbinary, "plans", "list", "--root", demo, "--json")
    assert [p["name"] for p in json.loads(listed)] == ["duo"]
    code, text, _ = _run(capsysbinary, "plans", "show", "1", "--root", demo)
    assert "saved plan 'duo' (id 1" in text and "block_vector" in text
    target = tmp_path / "duo.csv"
    assert _run(capsysbinary, "plans", "export", "duo", "--format", "csv", "--out", target, "--root", demo)[0] == 0
    rows = list(csv.reader(open(target, newline="")))
    assert rows[0] == ["lora", "position", "ratio", "strength_model", "strength_clip", "block_vector"]
    code, exported, _ = _run(capsysbinary, "plans", "export", "duo", "--root", demo)
    assert exported == out
    _run(capsysbinary, "plan", demo / INK, demo / PONY, "--root", demo)
    code, hist, _ = _run(capsysbinary, "plans", "history", "--root", demo, "--json")
    items = json.loads(hist)
    assert len(items) == 2 and items[1]["plan_id"] == 1 and items[0]["plan_id"] is None
    code, entry, _ = _run(capsysbinary, "plans", "history", "--id", items[1]["id"], "--root", demo, "--json")
    assert entry == out
    assert _run(capsysbinary, "plans", "delete", "duo", "--root", demo)[0] == 0
    code, _, err = _run(capsysbinary, "plans", "show", "duo", "--root", demo)
    assert code == 2 and "no saved plan named 'duo'" in err


def test_unknown_names_and_bad_input_exit_2(demo, capsysbinary):
    _run(capsysbinary, "profiles", "set", "soft", "OUT=0.5", "--root", demo)
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
        code, _, err = _run(capsysbinary, *argv, "--root", demo)
        assert code == 2 and bit in err, (argv, err)
    code, _, err = _run(capsysbinary, "plans", "list", "--root", demo / "missing")
    assert code == 2 and "not a folder" in err
    _run(capsysbinary, "plan", demo / INK, "--root", demo, "--save", "one")
    code, _, err = _run(capsysbinary, "plan", demo / INK, "--root", demo, "--save", "one")
    assert code == 2 and "a plan named 'one' exists" in err


def test_profiles_and_templates_in_plans(demo, capsysbinary):
    assert _run(capsysbinary, "profiles", "set", "soft-out", "OUT=0.5,DOUBLE3=0", "--root", demo)[0] == 0
    code, out, _ = _run(capsysbinary, "profiles", "list", "--root", demo, "--json")
    assert json.loads(out)[0]["multipliers"] == {"DOUBLE3": 0.0, "OUT": 0.5}
    code, out, _ = _run(capsysbinary, "plan", demo / INK, demo / PONY, "--profile", "2:soft-out", "--root", demo, "--json")
    plan = json.loads(out)
    assert plan["loras"][1]["profile"] == {"name": "soft-out", "multipliers": {"DOUBLE3": 0.0, "OUT": 0.5}}
    assert any("names block(s) this file does not have: DOUBLE3" in w for w in plan["warnings"])
    assert _run(capsysbinary, "plans", "templates", "set", "portrait", "--policy", "role-priority", "--headroom", "0.2",
                "--roles", "styles,characters", "--profile", "characters:soft-out", "--root", demo)[0] == 0
    code, out, _ = _run(capsysbinary, "plans", "templates", "list", "--root", demo)
    assert "portrait" in out and "role-priority" in out
    code, out, _ = _run(capsysbinary, "plan", demo / INK, demo / PONY, "--template", "portrait", "--policy", "balanced",
                        "--root", demo, "--json")
    plan = json.loads(out)
    assert plan["policy"] == "balanced" and plan["headroom"] == 0.2 and plan["role_order"] == ["styles", "characters"]
    assert plan["loras"][1]["profile"]["name"] == "soft-out" and plan["loras"][0]["profile"] is None
    assert _run(capsysbinary, "plans", "templates", "delete", "portrait", "--root", demo)[0] == 0
    assert _run(capsysbinary, "profiles", "delete", "soft-out", "--root", demo)[0] == 0


def test_from_plan_with_moved_and_vanished_files(demo, capsysbinary):
    _run(capsysbinary, "plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", demo / f"{LOCON}:0.5", "--policy", "role-priority",
         "--root", demo, "--save", "trio")
    os.makedirs(demo / "archive")
    os.rename(demo / INK, demo / "archive" / "ink.safetensors")
    code, out, err = _run(capsysbinary, "plans", "show", "trio", "--root", demo, "--json")
    assert code == 0 and "moved to" in err and json.loads(out)["loras"][0]["path"] == str(demo / "archive" / "ink.safetensors")
    code, out, err = _run(capsysbinary, "plan", "--from-plan", "trio", "--root", demo, "--json")
    plan = json.loads(out)
    assert code == 0 and "moved to" in err and plan["policy"] == "role-priority"
    assert [lo["input"]["strength_model"] for lo in plan["loras"]] == [0.8, 0.9, 0.5]
    os.remove(demo / LOCON)
    code, _, err = _run(capsysbinary, "plans", "show", "trio", "--root", demo)
    assert code == 1 and f"{LOCON}: vanished" in err
    code, _, err = _run(capsysbinary, "plan", "--from-plan", "trio", "--root", demo)
    assert code == 2 and f"{LOCON}: vanished" in err


def test_second_plan_in_a_new_process_is_warm(demo, capsysbinary):
    args = ["plan", demo / f"{INK}:0.8", demo / f"{PONY}:0.9", "--root", demo, "--json"]
    code, first, _ = _run(capsysbinary, *args)
    script = ("import sys\nfrom lora_atlas.engine import plan_cache\n"
              "def boom(*a): raise SystemExit('recomputed')\n"
              "plan_cache.stack_gram = boom\nfrom lora_atlas.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script] + [str(a) for a in args], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == first


def test_export_blocks(demo, capsysbinary, tmp_path):
    code, out, _ = _run(capsysbinary, "export-blocks", demo)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("path,id,architecture,adapter,kind,block,energy")
    assert any(line.startswith(INK + ",") for line in lines)
    code, again, _ = _run(capsysbinary, "export-blocks", demo)
    assert again == out
    code, js, _ = _run(capsysbinary, "export-blocks", demo, "--format", "json")
    assert len(json.loads(js)) == len(lines) - 1
    code, _, err = _run(capsysbinary, "export-blocks", tmp_path / "nowhere")
    assert code == 2 and "not a folder" in err


def test_help_has_examples(capsys):
    for argv in (["plans", "--help"], ["profiles", "--help"], ["export-blocks", "--help"],
                 ["plans", "templates", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "Example:" in capsys.readouterr().out
