"""Write every contract output of LoRA Atlas on the demo library into OUT, one file each, so two
versions of the code can be compared byte for byte (`diff -r OUT_A OUT_B`).

    python tests/contracts/snapshot.py OUT [--work DIR]

What it writes: `inspect --json`, `analyze --json`, `plan --json` (plain and in the library),
`plans show --json` / `plans export`, and the JSON of every route of `lora-atlas serve` on the
organized demo library. Only the public faces are used (the CLI in a subprocess, HTTP on
loopback), so the same script runs against any version. Paths and clocks are pinned (`--work`,
LORA_ATLAS_NOW) so two runs on one machine give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ENV = dict(os.environ, LORA_ATLAS_NOW="2026-01-01T00:00:00Z", PYTHONHASHSEED="0")


def cli(out, name, *argv, code_ok=(0, 1)):
    proc = subprocess.run([sys.executable, "-m", "lora_atlas", *argv], capture_output=True, env=ENV, timeout=600)
    assert proc.returncode in code_ok, (argv, proc.returncode, proc.stderr.decode()[-2000:])
    with open(os.path.join(out, name), "wb") as fh:
        fh.write(proc.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(base, method, path, doc=None):
    data = None if doc is None else json.dumps(doc).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def routes(out, demo):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "lora_atlas", "serve", demo, "--port", str(port)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                http(base, "GET", "/lora-atlas/settings")
                break
            except OSError:
                time.sleep(0.05)

        def keep(name, method, path, doc=None):
            status, body = http(base, method, path, doc)
            with open(os.path.join(out, f"route-{name}"), "wb") as fh:
                fh.write(f"{status}\n".encode() + body)
            return body

        listing = json.loads(keep("loras", "GET", "/lora-atlas/loras?refresh=1&limit=500"))
        keep("loras-search", "GET", "/lora-atlas/loras?q=ink&architecture=sdxl")
        keep("loras-bad", "GET", "/lora-atlas/loras?limit=abc")
        for item in listing["items"]:
            slug = item["path"].replace("/", "__")
            keep(f"detail-{slug}", "GET", f"/lora-atlas/loras/{item['id']}")
        keep("detail-missing", "GET", "/lora-atlas/loras/nope")
        ink = next(it for it in listing["items"] if it["path"].endswith("ink_sketch_xl.safetensors"))
        red = next(it for it in listing["items"] if it["path"].endswith("red_hair_girl_pony.safetensors"))
        keep("config-edit", "PATCH", f"/lora-atlas/loras/{ink['id']}/config", {"notes": "edited", "tags": ["a"]})
        keep("config-bad", "PATCH", f"/lora-atlas/loras/{ink['id']}/config", {"filename": "x", "default_weight": 99})
        request = {"loras": [{"id": ink["id"], "strength_model": 1.0}, {"path": red["path"], "strength_model": 0.9}],
                   "policy": "balanced"}
        keep("plan", "POST", "/lora-atlas/plan", request)
        keep("plan-bad", "POST", "/lora-atlas/plan", {"loras": [{"x": 1}], "policy": 3, "extra": 1})
        keep("profiles-put", "PUT", "/lora-atlas/profiles/soft", {"multipliers": {"OUT": 0.5}})
        keep("profiles", "GET", "/lora-atlas/profiles")
        keep("plans-save", "POST", "/lora-atlas/plans", {"name": "duo-http", "request": request})
        keep("plans-save-again", "POST", "/lora-atlas/plans", {"name": "duo-http", "request": request})
        keep("plans", "GET", "/lora-atlas/plans")
        keep("plans-one", "GET", "/lora-atlas/plans/duo-http")
        for fmt in ("json", "csv", "text", "inspire", "a1111", "xml"):
            keep(f"plans-export-{fmt}", "GET", f"/lora-atlas/plans/duo-http/export?format={fmt}")
        keep("plans-delete", "DELETE", "/lora-atlas/plans/duo-http")
        keep("settings", "GET", "/lora-atlas/settings")
        keep("settings-bad", "PUT", "/lora-atlas/settings", {"rescan_interval": 0})
        keep("jobs-bad", "POST", "/lora-atlas/jobs/organize", {"root": 0, "allow": "sd9"})
        keep("jobs-unknown", "POST", "/lora-atlas/jobs/fly", {})
        keep("job-check", "POST", "/lora-atlas/jobs/check", {"root": 0})
        for _ in range(600):
            body = json.loads(http(base, "GET", "/lora-atlas/jobs/1")[1])
            if body.get("state") in ("done", "failed"):
                break
            time.sleep(0.05)
        keep("job-1", "GET", "/lora-atlas/jobs/1")
        keep("preview-outside", "GET", "/lora-atlas/preview?path=../x.png")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--work", default="/tmp/lora-atlas-contract")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    demo = os.path.join(args.work, "demo")
    subprocess.run([sys.executable, "-m", "lora_atlas", "demo", demo], check=True, env=ENV, capture_output=True)
    ink = os.path.join(demo, "styles", "ink_sketch_xl.safetensors")
    red = os.path.join(demo, "characters", "red_hair_girl_pony.safetensors")
    cli(out, "inspect.json", "inspect", demo, "--json")
    cli(out, "analyze.json", "analyze", ink, red, os.path.join(demo, "characters", "portrait_flux.safetensors"), "--json")
    cli(out, "plan-loose.json", "plan", f"{ink}:1.0", f"{red}:0.9", "--json")
    cli(out, "organize.txt", "organize", demo)
    ink = os.path.join(demo, "styles", "ink-sketch-xl", "ink_sketch_xl.safetensors")
    red = os.path.join(demo, "characters", "red-hair-girl-pony", "red_hair_girl_pony.safetensors")
    cli(out, "plan.json", "plan", f"{ink}:1.0", f"{red}:0.9", "--policy", "balanced", "--save", "duo", "--json")
    cli(out, "plan-bad.json", "plan", f"{ink}:abc", "/nope.safetensors", "--json", code_ok=(2,))
    cli(out, "plans-show.json", "plans", "show", "duo", "--root", demo, "--json")
    cli(out, "plans-export.csv", "plans", "export", "duo", "--format", "csv", "--root", demo)
    cli(out, "plans-list.json", "plans", "list", "--root", demo, "--json")
    cli(out, "plans-history.json", "plans", "history", "--root", demo, "--json")
    cli(out, "reconcile.txt", "reconcile", demo)
    routes(out, demo)
    print(f"wrote {len(os.listdir(out))} files into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
