"""The library commands from the terminal: help with examples, exit codes, --json, the demo."""

from __future__ import annotations

import json

import pytest

from lora_atlas.cli import build_parser
from lora_atlas.cli.library_cmds import COMMANDS

pytestmark = pytest.mark.usefixtures("pinned_clock")     # as every library test: fixed journal times


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--help"])
    out = capsys.readouterr().out
    assert "Example:" in out and "lora-atlas " + name in out


def test_demo_library_round_trip(library_copy, run_cli, hashes):
    root = str(library_copy("demo", "demo-library"))
    before = hashes(root)
    code, out, _ = run_cli("check", root)
    assert code == 0 and "organize" in out and "quarantine" in out and hashes(root) == before
    code, out, _ = run_cli("organize", root, "--no-preview", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["run"] == 1 and doc["scan"]["files"] == 19
    code, out, _ = run_cli("reconcile", root)
    assert code == 0 and "0 error(s)" in out
    code, out, _ = run_cli("scan", root, "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 19
    code, out, _ = run_cli("undo", root)
    assert code == 0 and "undid run 1" in out
    assert hashes(root) == before
    code, _, err = run_cli("undo", root)
    assert code == 2 and "nothing to undo" in err
    code, out, _ = run_cli("reconcile", root)
    assert code == 1 and "no index.json" in out


def test_clean_with_allow_and_bad_usage(tmp_path, library_copy, run_cli):
    root = str(library_copy("demo", "demo-library"))
    code, _, err = run_cli("organize", root, "--allow", "sd15")
    assert code == 2 and "unknown architecture(s) sd15" in err
    code, _, err = run_cli("organize", str(tmp_path / "missing"))
    assert code == 2 and "not a folder" in err
    code, out, _ = run_cli("clean", root, "--allow", "sd1", "--json")
    items = json.loads(out)["plan"]["items"]
    assert code == 0 and {i["action"] for i in items} == {"quarantine"}
    assert "_incompatible/not-allowed/ink_sketch_xl.safetensors" in {i["dest"] for i in items}
