"""The layers of DESIGN.md, checked on the import graph (lazy imports included): imports only go
down, ComfyUI is imported only in nodes/, the engine knows no folder convention."""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("engine", "library", "server", "nodes", "cli", "demo")
NEVER = {
    "engine": {"library", "server", "nodes", "cli", "demo"},
    "library": {"server", "nodes", "cli", "demo"},
    "server": {"nodes", "cli", "demo"},
    "nodes": {"cli", "demo"},
    "cli": {"nodes"},
    "demo": {"engine", "library", "server", "nodes", "cli"},
}
COMFY_MODULES = {"comfy", "folder_paths", "server", "nodes", "execution", "comfy_extras", "comfy_api"}


def _imports(package: str):
    """(file, imported pack package or top-level module, is_relative) for every import in `package`."""
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            depth = os.path.relpath(path, ROOT).count(os.sep)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.ImportFrom) and node.level:
                    parts = os.path.relpath(folder, ROOT).split(os.sep)
                    base = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                    target = (base + (node.module or "").split("."))[0] if base and base != ["."] else (node.module or "")
                    if node.level > depth:
                        target = (node.module or "").split(".")[0]
                    yield path, target, True
                elif isinstance(node, ast.ImportFrom) and node.module:
                    yield path, node.module.split(".")[0], False
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        yield path, alias.name.split(".")[0], False


def test_imports_only_go_down():
    wrong = []
    for package in PACKAGES:
        for path, target, relative in _imports(package):
            if relative and target in NEVER[package]:
                wrong.append(f"{os.path.relpath(path, ROOT)} imports {target}/")
            if not relative and target == "lora_atlas":
                wrong.append(f"{os.path.relpath(path, ROOT)} imports the package root")
    assert not wrong, wrong


def test_only_nodes_import_comfyui_and_only_server_serves_http():
    wrong = []
    for package in PACKAGES:
        for path, target, relative in _imports(package):
            if not relative and target in COMFY_MODULES and package != "nodes":
                wrong.append(f"{os.path.relpath(path, ROOT)} imports ComfyUI's {target}")
            if not relative and target == "aiohttp" and package not in ("server", "cli"):
                wrong.append(f"{os.path.relpath(path, ROOT)} imports aiohttp")
    assert not wrong, wrong


def test_engine_knows_no_folder_convention():
    engine = os.path.join(ROOT, "engine")
    text = "".join(open(os.path.join(engine, n), encoding="utf-8").read() for n in os.listdir(engine) if n.endswith(".py"))
    for convention in (".lora-atlas", "KNOWN_ROLES", "config.yaml", "_incompatible", "os.walk", "os.scandir"):
        assert convention not in text, convention
