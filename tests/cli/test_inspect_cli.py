"""`lora-atlas inspect`: the JSON contract of DESIGN.md and the readable table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lora_atlas.demo.demo_library import build_demo_library

CONTRACT = {"path", "ok", "error", "architecture", "adapter", "dora", "text_encoder", "base_model_hint", "blocks", "rank", "alpha"}


def test_json_contract_on_demo_library(tmp_path, run_cli):
    root = tmp_path / "demo"
    written = build_demo_library(str(root))
    code, out, _ = run_cli("inspect", str(root), "--json")
    assert code == 0
    doc = json.loads(out)
    assert [d["path"] for d in doc] == sorted(p for p in written)
    for d in doc:
        assert CONTRACT <= set(d)
        if d["ok"]:
            assert d["error"] is None and d["blocks"][0] == "BASE"
        else:
            assert d["error"] and d["architecture"] is None and d["blocks"] is None
    by_name = {os.path.basename(d["path"]): d for d in doc}
    assert by_name["ink_sketch_xl.safetensors"]["architecture"] == "sdxl"
    assert by_name["portrait_flux.safetensors"]["text_encoder"] == ["clip_l", "t5xxl"]
    assert by_name["old_format.ckpt"]["error_code"] == "pickle"
    assert sum(d["ok"] for d in doc) == 13


def test_json_is_deterministic(library_copy, run_cli):
    root = library_copy("demo", "demo")
    first = run_cli("inspect", str(root), "--json")[1]
    second = run_cli("inspect", str(root), "--json")[1]
    assert first == second


def test_missing_path_is_reported_not_fatal(tmp_path, run_cli, lora_files):
    code, out, _ = run_cli("inspect", lora_files("sd1_lora"), str(tmp_path / "missing.safetensors"), "--json")
    doc = json.loads(out)
    assert code == 0
    assert [d["ok"] for d in doc] == [True, False]
    assert doc[1]["error_code"] == "unreadable"


def test_table_output(run_cli, lora_files):
    code, out, _ = run_cli("inspect", lora_files("flux_single"))
    assert code == 0
    assert "flux (single-only)" in out and "39" in out and "1 file(s): 1 LoRA(s)" in out


def test_module_entry_point_and_help():
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "inspect", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Example:" in out
    out = subprocess.run([sys.executable, "-m", "lora_atlas", "--help"], capture_output=True, text=True, check=True).stdout
    assert "inspect" in out


def test_every_command_has_help_with_an_example():
    from lora_atlas.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert "Example:" in (p.description or ""), name


def test_usage_error_exits_2():
    proc = subprocess.run([sys.executable, "-m", "lora_atlas", "inspect"], capture_output=True, text=True)
    assert proc.returncode == 2


def test_progress_only_on_a_terminal(tmp_path, capsys, monkeypatch, lora_files):
    """A progress line goes to stderr on a terminal, never into piped or --json output."""
    from lora_atlas.cli.output import each_with_progress

    paths = [lora_files("sd1_lora"), lora_files("flux_single")]
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert each_with_progress(paths, "inspect", len) == [len(p) for p in paths]
    err = capsys.readouterr().err
    assert "inspect [" in err and "2/2" in err
    assert each_with_progress(paths, "inspect", len, enabled=False) == [len(p) for p in paths]
    assert capsys.readouterr().err == ""


def test_json_outputs_survive_a_name_that_is_not_utf8(tmp_path):
    """Issue 13 item 8: inspect/analyze/plan --json printed nothing (orjson refused the name); now
    the file is an error entry and its bytes are written as \\xNN, so the name can be told exactly."""
    import json
    import subprocess
    import sys
    from lora_atlas.demo.synthetic_loras import write_fixture
    good = write_fixture("sd1_lora", str(tmp_path / "good.safetensors"), rank=1, seed=1)
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.safetensors")
    write_fixture("sd1_lora", bad, rank=1, seed=2)
    shown = str(tmp_path) + "/caf\\xe9.safetensors"
    for argv in (["inspect", str(tmp_path)], ["inspect", bad, good], ["analyze", bad, good]):
        proc = subprocess.run([sys.executable, "-m", "lora_atlas", *argv, "--json"], capture_output=True)
        assert proc.returncode == 0, proc.stderr
        doc = {d["path"]: d for d in json.loads(proc.stdout)}
        if bad in argv:
            assert doc[shown]["ok"] is False and doc[shown]["error_code"] == "bad_name"
        assert doc[good]["ok"] is True
    proc = subprocess.run([sys.executable, "-m", "lora_atlas", "plan", bad, good, "--json"], capture_output=True)
    plan = json.loads(proc.stdout)
    assert proc.returncode == 0 and plan["excluded"][0]["path"] == shown and len(plan["loras"]) == 1
