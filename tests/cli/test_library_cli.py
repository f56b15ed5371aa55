"""The library commands from the terminal: help with examples, exit codes, --json, the demo."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_like_a_lora_hangs_no_command(library_copy):
    # Each command runs in its own process with a time limit: before the fix every one of them
    # waited forever in open() on the FIFO.
    root = str(library_copy("comfy", "loras"))
    fifo = os.path.join(root, "styles", "pipe.safetensors")
    os.mkfifo(fifo)
    good = os.path.join(root, "styles", "watercolor.safetensors")

    def run(*argv):
        proc = subprocess.run([sys.executable, "-m", "lora_atlas", *argv], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, LORA_ATLAS_NOW="2025-01-02T03:04:05Z"))
        return proc.returncode, proc.stdout, proc.stderr

    code, out, err = run("inspect", fifo, "--json")
    (entry,) = json.loads(out)
    assert code == 0 and (entry["ok"], entry["error_code"]) == (False, "unreadable") and "named pipe" in entry["error"]
    code, out, err = run("inspect", root)
    assert code == 0 and "pipe.safetensors: unreadable" in err
    code, out, _ = run("analyze", fifo, "--json")
    assert "named pipe" in out
    code, out, err = run("plan", f"{good}:1", f"{fifo}:1", "--root", root)
    assert "pipe.safetensors" in out + err
    for command in ("scan", "check", "organize"):
        code, out, err = run(command, root)
        assert code == 0 and "pipe.safetensors: unreadable" in err, (command, err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
