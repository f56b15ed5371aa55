"""Talking to the real ComfyUI server of the integration tests (`comfy_server` fixture) over HTTP:
plain urllib, so a test needs nothing but the server's URL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request


def get(server, path):
    """(status, content type, body bytes) of GET `path`; an HTTP error is an answer too."""
    try:
        with urllib.request.urlopen(server["url"] + path, timeout=120) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def send(server, method, path, doc=None):
    """(status, parsed JSON answer) of a request carrying `doc` as JSON."""
    data = None if doc is None else json.dumps(doc).encode()
    req = urllib.request.Request(server["url"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get_json(server, path):
    status, ctype, body = get(server, path)
    assert ctype.startswith("application/json"), (path, status, body[:300])
    return status, json.loads(body)


def run_prompt(server, graph, timeout=600, client_id="lora-atlas-it") -> dict:
    """Queue an API-format graph through POST /prompt and return its /history entry once it ended."""
    status, queued = send(server, "POST", "/prompt", {"prompt": graph, "client_id": client_id})
    assert status == 200 and not queued.get("node_errors"), queued
    pid = queued["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, history = get_json(server, f"/history/{pid}")
        if pid in history and history[pid]["status"].get("status_str") in ("success", "error"):
            return history[pid]
        time.sleep(0.5)
    raise AssertionError(f"prompt {pid} did not finish in {timeout} s")
