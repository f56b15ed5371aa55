"""Confinement of user-given paths to the configured LoRA roots: every face (routes, nodes outside
ComfyUI, previews) turns a path from a request into a real path through `confine`, or refuses.

    root_index, rel, real = confine(["/models/loras"], "styles/ink/ink.safetensors")

A relative path is taken under `root_index` (or the first root where it exists); an absolute one
must already lie inside a root. `..` segments, NUL bytes and anything whose real path (symlinks
resolved) leaves its root are refused with OutsideRoots / InvalidPath; a path that names nothing
is NotFound.
"""

from __future__ import annotations

import os

from .errors import InvalidPath, NotFound, OutsideRoots

MAX_PATH = 4096
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def inside(path: str, root: str) -> bool:
    """Whether the real path `path` lies in the real folder `root` (or is it)."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def check_root_index(roots: list, root_index) -> None:
    if isinstance(root_index, bool) or not isinstance(root_index, int) or not 0 <= root_index < len(roots):
        raise InvalidPath(f"root: expected an index between 0 and {max(0, len(roots) - 1)}"
                          if roots else "no LoRA root is configured")


def confine(roots: list, path, root_index=None, *, must_exist: bool = True) -> tuple[int, str, str]:
    """(root index, path relative to it with '/', real absolute path) of a user-given `path`."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("path: expected a non-empty text")
    if "\0" in path or len(path) > MAX_PATH:
        raise InvalidPath("path: invalid characters or too long")
    if ".." in path.replace("\\", "/").split("/"):
        raise OutsideRoots(f"path {path!r}: '..' is not allowed; give a path inside a LoRA root")
    if not roots:
        raise NotFound("no LoRA root is configured")
    if root_index is not None:
        check_root_index(roots, root_index)
    for i, root, real in _candidates(roots, path, root_index):
        if not must_exist or os.path.exists(real):
            return i, os.path.relpath(real, root).replace(os.sep, "/"), real
    raise NotFound(f"path {path!r}: no such file in the LoRA roots")


def _candidates(roots, path, root_index):
    """(index, root, real path) of every root `path` may name, in root order."""
    wanted = [(i, root) for i, root in enumerate(roots) if root_index is None or i == root_index]
    if os.path.isabs(path) or path.startswith("/"):
        real = os.path.realpath(path)
        found = [(i, root, real) for i, root in wanted
                 if inside(os.path.realpath(path.rstrip("/")), root) and inside(real, root)]
        if not found:
            raise OutsideRoots(f"path {path!r} is outside the configured LoRA roots")
        return found
    found = []
    for i, root in wanted:
        real = os.path.realpath(os.path.join(root, path))
        if not inside(real, root):
            raise OutsideRoots(f"path {path!r} leaves its LoRA root (a link pointing outside?)")
        found.append((i, root, real))
    return found


def within_root(root: str, path: str) -> str:
    """The real path of `path`, a file of the library at `root` that a route reads or writes (a
    config.yaml, a LoRA file found by id); OutsideRoots when a link, the file's own or a folder's on
    the way, takes it out of the root: its content must not be served or copied into the root."""
    real = os.path.realpath(path)
    if not inside(real, os.path.realpath(root)):
        raise OutsideRoots(f"{os.path.relpath(path, root)!r} is a link leading outside its LoRA root; not read")
    return real


def confined_image(roots: list, path, root_index=None) -> str:
    """The real path of an image file inside the LoRA roots, or OutsideRoots."""
    _, _, real = confine(roots, path, root_index)
    if not real.lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(real):
        raise OutsideRoots("only image files inside the LoRA roots are served")
    return real
