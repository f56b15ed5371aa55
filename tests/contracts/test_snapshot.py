"""The contract snapshot (tests/contracts/snapshot.py) runs, and what it records agrees across the
faces: the plan route answers the JSON `lora-atlas plan --json` printed, the detail route's
classification is `inspect --json`'s, and its analysis `analyze --json`'s figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _route(out, name):
    status, _, body = open(os.path.join(out, f"route-{name}"), encoding="utf-8").read().partition("\n")
    return int(status), json.loads(body)


def test_snapshot_faces_agree(tmp_path):
    out, work = str(tmp_path / "out"), str(tmp_path / "work")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "snapshot.py"), out, "--work", work],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.load(open(os.path.join(out, "plan.json")))
    status, routed = _route(out, "plan")
    assert status == 200 and routed == plan
    inspected = {os.path.basename(d["path"]): d for d in json.load(open(os.path.join(out, "inspect.json")))}
    status, detail = _route(out, "detail-styles__ink-sketch-xl__ink_sketch_xl.safetensors")
    assert status == 200
    expected = dict(inspected["ink_sketch_xl.safetensors"])
    expected.pop("path")
    assert detail["classification"] == expected
    analyzed = {os.path.basename(d["path"]): d for d in json.load(open(os.path.join(out, "analyze.json")))}
    cli_blocks = {b["name"]: b["energy"] for b in analyzed["ink_sketch_xl.safetensors"]["blocks"]}
    route_blocks = {b["name"]: float(f"{b['energy']:.6g}") for b in detail["analysis"]["blocks"]}
    assert route_blocks == cli_blocks
    status, bad = _route(out, "plan-bad")
    assert status == 400 and set(bad) == {"error"}
