"""A LoRA's role, as every face reports it (listing, organize, planner, CLI, routes, nodes), and
where a library's root is. The one home of the folder convention; the engine takes roles as data.

Role = the LoRA's category folder: the first folder under its LoRA root (`<root>/<category>/...`),
not counting the LoRA's own folder. A folder is the LoRA's own (organize's rule) when it holds
that one LoRA and either a `config.yaml` or the LoRA's own name: `styles/ink/ink.safetensors` has
the role `styles`, and `ink/ink.safetensors` (dropped at the root, then organized) has none. Hidden
and `_` folders (the quarantine) give no role; nor does a file directly in the root.

The root is the nearest ancestor holding a `.lora-atlas/` store (`find_root`). A file outside any
library falls back to the nearest ancestor folder named like a known role (KNOWN_ROLES).
"""

from __future__ import annotations

import os

from . import config_files as cf
from .config_files import CONFIG_NAME
from .scan import QUARANTINE_DIR, is_lora_name
from .store import STATE_DIR

KNOWN_ROLES = ("characters", "styles", "concepts", "poses", "clothing", "backgrounds", "effects")


def find_root(path: str):
    """The nearest ancestor of `path` that holds a `.lora-atlas/` store, or None."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isdir(os.path.join(d, STATE_DIR)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def role_from_relpath(rel: str, own_folder: bool = False) -> str | None:
    """The role of a LoRA at `rel` ("/"-separated, relative to its root): the first folder above
    the LoRA's own folder (when `own_folder`) or above the file, unless there is none, or it is
    outside the root, hidden or a `_` folder (quarantine)."""
    parts = rel.split("/")
    folders = parts[:-2] if own_folder else parts[:-1]
    if not folders or folders[0] == ".." or folders[0].startswith((".", "_")):
        return None
    return folders[0]


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


def role_at(rel: str, folder_path: str) -> str | None:
    """The role of the LoRA at `rel` (relative to its root) whose folder on disk is `folder_path`."""
    try:
        names = os.listdir(folder_path)
    except OSError:
        names = []
    loras = sum(1 for n in names if is_lora_name(n))
    return role_in_root(rel, loras, CONFIG_NAME in names)


def _known_role_above(path: str):
    """(role, its parent) from the nearest ancestor folder named like a known role, else (None, None)."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        name = os.path.basename(d)
        if name in KNOWN_ROLES:
            return name, os.path.dirname(d)
        parent = os.path.dirname(d)
        if parent == d:
            return None, None
        d = parent


def role_on_disk(path: str, root: str | None = None):
    """(role, root) of a LoRA file, reading its folder's listing. Without a root (none given and
    no `.lora-atlas/` store above the file) the nearest ancestor folder named like a known role
    is the role."""
    root = root or find_root(path)
    if root is None:
        return _known_role_above(path)
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
    return role_at(rel, os.path.dirname(os.path.abspath(path))), root


def role_of_file(path: str, root: str | None = None) -> str | None:
    """`role_on_disk` without the root."""
    return role_on_disk(path, root)[0]


def roles_of(paths, root: str | None = None, overrides: dict | None = None) -> dict:
    """path -> role for a plan: an override where given, else the file's role on disk."""
    overrides = overrides or {}
    return {path: overrides[path] if path in overrides else role_of_file(path, root) for path in paths}
