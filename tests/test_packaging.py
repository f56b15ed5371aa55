"""The repository root is both a ComfyUI custom-node folder and the `lora_atlas` package."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_requirements_never_list_torch():
    lines = [l.split("#")[0].strip().lower() for l in open(os.path.join(ROOT, "requirements.txt"))]
    assert not any(l.startswith(("torch", "torchvision", "torchaudio")) for l in lines if l)


def test_pyproject_has_comfy_registry_section():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        doc = tomllib.load(fh)
    comfy = doc["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "LoRA Atlas"
    assert doc["project"]["scripts"]["lora-atlas"] == "lora_atlas.cli:main"
    assert "Repository" in doc["project"]["urls"]


def test_loads_the_way_comfyui_loads_a_pack():
    """ComfyUI imports the folder under a module name made from its path, with relative imports."""
    name = ROOT.replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "__init__.py"), submodule_search_locations=[ROOT])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        assert isinstance(module.NODE_CLASS_MAPPINGS, dict)
        assert module.WEB_DIRECTORY == "./web"
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_import_is_cheap():
    code = "import sys, time; t=time.perf_counter(); import lora_atlas; dt=time.perf_counter()-t; " \
           "print(dt, 'torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False" and out[2] == "False"
    assert float(out[0]) < 0.5


def test_console_script_installed():
    script = shutil.which("lora-atlas", path=os.path.dirname(sys.executable))
    assert script, "the lora-atlas console script is installed next to the interpreter"
    out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    assert "inspect" in out
