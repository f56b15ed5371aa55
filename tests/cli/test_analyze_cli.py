"""`lora-atlas analyze`: the JSON shape of issue 3 and the terminal bar chart."""

from __future__ import annotations

import json

from lora_atlas.engine.analysis import ANALYSIS_VERSION
from lora_atlas.engine.inspect import inspect_file

CONTRACT = {"path", "ok", "error", "architecture", "analysis_version", "total_energy", "clip_share", "blocks", "text_encoders"}
BLOCK = {"name", "energy", "share", "spectral_norm", "effective_rank", "modules"}


def test_json_shape_order_and_bad_files(tmp_path, run_cli, lora_files):
    good = lora_files("sdxl_lora", sparse=False, rank=2)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    code, out, _ = run_cli("analyze", good, str(tmp_path / "empty.safetensors"), "--json")
    assert code == 0
    doc = json.loads(out)
    assert [d["path"] for d in doc] == [good, str(tmp_path / "empty.safetensors")]
    ok, bad = doc
    assert CONTRACT <= set(ok) and ok["ok"] and ok["analysis_version"] == ANALYSIS_VERSION
    assert [b["name"] for b in ok["blocks"]] == inspect_file(good).blocks
    assert all(set(b) == BLOCK for b in ok["blocks"])
    assert set(ok["text_encoders"]) == {"clip_l", "clip_g"} and 0 < ok["clip_share"] < 1
    for b in ok["blocks"]:   # 6 significant digits
        assert b["energy"] == float(f"{b['energy']:.6g}")
    assert CONTRACT <= set(bad) and bad["ok"] is False and bad["error_code"] == "empty" and bad["blocks"] is None
    _, again, _ = run_cli("analyze", good, str(tmp_path / "empty.safetensors"), "--json")
    assert again == out


def test_table_has_a_bar_per_block(run_cli, lora_files):
    path = lora_files("sdxl_partial", sparse=False, rank=2)
    code, out, _ = run_cli("analyze", path)
    assert code == 0
    assert "MID1+OUT1" in out and "IN8" in out and "█" in out
    assert "1 file(s): 1 analysed" in out


def test_worker_processes_give_the_same_output(tmp_path, run_cli, lora_files):
    files = [lora_files(name, sparse=False, rank=2) for name in ("sd1_lora", "sdxl_lora", "flux_lora", "sd1_loha")]
    (tmp_path / "empty.safetensors").write_bytes(b"")
    args = ["analyze", *files, str(tmp_path / "empty.safetensors"), "--json"]
    _, one, _ = run_cli(*args, "--jobs", "1")
    _, two, _ = run_cli(*args, "--jobs", "2")
    assert two == one
    assert [d["ok"] for d in json.loads(two)] == [True, True, True, True, False]
    code, _, _ = run_cli(*args, "--jobs", "0")
    assert code == 2
