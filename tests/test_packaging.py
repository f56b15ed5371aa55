"""The repository root is both a ComfyUI custom-node folder and the `lora_atlas` package."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

try:
    import tomllib
except ImportError:   # Python 3.10: the same parser as the `tomli` package (a test extra there)
    import tomli as tomllib

import pytest

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


def test_the_web_folder_is_registered_once():
    """ComfyUI serves a pack's web folder for WEB_DIRECTORY (under the folder's name) and again for
    pyproject's `[tool.comfy] web` (under the project name), so with both every panel script loads
    twice. WEB_DIRECTORY is the one kept: ComfyUI reads it from the module on every version, however
    the pack was installed (git clone, ComfyUI-Manager, the registry)."""
    import lora_atlas
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        comfy = tomllib.load(fh)["tool"]["comfy"]
    registrations = [value for value in (lora_atlas.WEB_DIRECTORY, comfy.get("web")) if value]
    assert registrations == ["./web"]
    assert os.path.isdir(os.path.join(ROOT, lora_atlas.WEB_DIRECTORY))


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


def _checkout_files() -> list:
    """The repository's files as git lists them (tracked, plus new ones not ignored); skip without git."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the checkout's files cannot be listed to copy them")
    listed = subprocess.run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip(f"git cannot list the files of {ROOT} (not a git checkout): {listed.stderr.decode()[-300:]}")
    return [rel for rel in listed.stdout.decode().split("\0") if rel and os.path.isfile(os.path.join(ROOT, rel))]


@pytest.mark.parametrize("folder", ["lora-atlas", "LoRA Atlas copy", "lora_atlas", "main"])
def test_the_suite_runs_in_a_checkout_folder_of_any_name(tmp_path, folder):
    """`make test` in a clone named `lora-atlas` (the README's name), or any name, runs the tests.

    The root's __init__.py makes the checkout a package; pytest must never import it itself (it
    would do so under the folder's name: a failed import in `lora-atlas`, a second copy of the pack
    in `main`). The copy's `lora_atlas` imports still resolve to the installed (editable) package,
    not to the copy, so what this pins is pytest's handling of the folder: a test file runs there
    and passes (the failure was at setup, so collecting alone would not show it), and no module in
    that process was loaded from the copy's __init__.py."""
    clone = tmp_path / folder
    for rel in _checkout_files():
        target = clone / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)
    init = os.path.realpath(clone / "__init__.py")
    code = ("import os, sys, pytest\n"
            "code = pytest.main(['-p', 'no:cacheprovider', 'tests/engine/test_keys.py'])\n"
            "loaded = [n for n, m in list(sys.modules.items())\n"
            "          if os.path.realpath(getattr(m, '__file__', None) or '') == %r]\n"
            "print('ROOT-INIT-LOADED-AS', sorted(loaded))\n"
            "sys.exit(code)\n" % init)
    run = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    passed = re.search(r"(\d+) passed", out)
    assert passed and int(passed.group(1)) > 0, out[-4000:]
    assert "ROOT-INIT-LOADED-AS []" in out, out[-4000:]
    assert "ImportError" not in out
