"""A LoRA's role as every face reports it (listing, organize, planner, CLI): the engine's rule on
its path (engine.plan_inputs.role_from_relpath), told whether the LoRA's folder is its own.

A folder is the LoRA's own (organize's rule) when it holds that one LoRA and either a
`config.yaml` or the LoRA's own name: `styles/ink/ink.safetensors` has the role `styles`, and
`ink/ink.safetensors` (dropped at the root, then organized) has none. The facts come from a
listing the caller already holds (`role_in_root`) or from the disk (`role_on_disk`, `role_at`)."""

from __future__ import annotations

import os

from ..engine.plan_inputs import find_root, role_from_relpath, role_of
from . import config_files as cf
from .scan import CONFIG_NAME, QUARANTINE_DIR, is_lora_name


def folder_is_own(folder: str, filename: str, loras_in_folder: int, has_config: bool) -> bool:
    """Whether `folder` (its path relative to the root) is the own folder of the LoRA `filename`
    in it. The root and the quarantine are nobody's own folder."""
    if not folder or folder.split("/")[0] == QUARANTINE_DIR or loras_in_folder != 1:
        return False
    return has_config or cf.slugify(folder.rsplit("/", 1)[-1]) == cf.slugify(os.path.splitext(filename)[0])


def role_in_root(rel: str, loras_in_folder: int, has_config: bool) -> str | None:
    """The role of the LoRA at `rel` ("/"-separated, relative to its root), given how many LoRAs
    its folder holds and whether the folder has a config.yaml."""
    folder, _, filename = rel.rpartition("/")
    return role_from_relpath(rel, folder_is_own(folder, filename, loras_in_folder, has_config))


def role_on_disk(path: str, root: str | None = None):
    """(role, root) of a LoRA file, reading its folder's listing. Without a root (none given and
    no `.lora-atlas/` store above the file) the engine's fallback applies: the nearest ancestor
    folder named like a known role."""
    root = root or find_root(path)
    if root is None:
        return role_of(path)
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
    return role_at(rel, os.path.dirname(os.path.abspath(path))), root


def role_at(rel: str, folder_path: str) -> str | None:
    """The role of the LoRA at `rel` (relative to its root) whose folder on disk is `folder_path`."""
    try:
        names = os.listdir(folder_path)
    except OSError:
        names = []
    loras = sum(1 for n in names if is_lora_name(n))
    return role_in_root(rel, loras, CONFIG_NAME in names)


def role_of_file(path: str, root: str | None = None) -> str | None:
    """`role_on_disk` without the root: what engine.plan_inputs.plan_files asks for."""
    return role_on_disk(path, root)[0]
