"""The library commands from the terminal: help with examples, exit codes, --json, the demo."""

from __future__ import annotations

import json

import pytest

from lora_atlas.cli import build_parser, main
from lora_atlas.cli.library_cmds import COMMANDS
from lora_atlas.demo.demo_library import build_demo_library


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--help"])
    out = capsys.readouterr().out
    assert "Example:" in out and "lora-atlas " + name in out


def test_demo_library_round_trip(tmp_path, capsys, hashes):
    root = str(tmp_path / "demo-library")
    build_demo_library(root)
    before = hashes(root)
    code, out, _ = _run(capsys, "check", root)
    assert code == 0 and "organize" in out and "quarantine" in out and hashes(root) == before
    code, out, _ = _run(capsys, "organize", root, "--no-preview", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["run"] == 1 and doc["scan"]["files"] == 19
    code, out, _ = _run(capsys, "reconcile", root)
    assert code == 0 and "0 error(s)" in out
    code, out, _ = _run(capsys, "scan", root, "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 19
    code, out, _ = _run(capsys, "undo", root)
    assert code == 0 and "undid run 1" in out
    assert hashes(root) == before
    code, _, err = _run(capsys, "undo", root)
    assert code == 2 and "nothing to undo" in err
    code, out, _ = _run(capsys, "reconcile", root)
    assert code == 1 and "no index.json" in out


def test_clean_with_allow_and_bad_usage(tmp_path, capsys):
    root = str(tmp_path / "demo-library")
    build_demo_library(root)
    code, _, err = _run(capsys, "organize", root, "--allow", "sd15")
    assert code == 2 and "unknown architecture(s) sd15" in err
    code, _, err = _run(capsys, "organize", str(tmp_path / "missing"))
    assert code == 2 and "not a folder" in err
    code, out, _ = _run(capsys, "clean", root, "--allow", "sd1", "--json")
    items = json.loads(out)["plan"]["items"]
    assert code == 0 and {i["action"] for i in items} == {"quarantine"}
    assert "_incompatible/not-allowed/ink_sketch_xl.safetensors" in {i["dest"] for i in items}
