"""File operations that never lose or overwrite a user's file.

* `safe_move` refuses to overwrite, is a no-op when source and destination are the same file, and
  moves by hard link + unlink where it can (the link fails atomically if the destination appeared),
  by rename otherwise, and across devices by copy to a temporary file in the destination folder,
  fsync, link/replace, then unlink of the source. Failures raise `FilesystemError` with the verb and
  both paths.
* `atomic_write` writes a temporary file, fsyncs it and renames it over the target.

`crash_point()` marks the moments between steps; the fault-injection tests set
`LORA_ATLAS_CRASH_AT=N` to have the process SIGKILL itself at the N-th one. `LORA_ATLAS_FSYNC=0`
skips fsync (tests that kill processes, not machines, do not need it; never set it for real use).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal

from ..engine.safetensors_header import open_regular
from .errors import DestinationExists, DiskFull, FilesystemError

TEMP_PREFIX = ".atlas-tmp-"
DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})

_crash_at = int(os.environ.get("LORA_ATLAS_CRASH_AT", "0") or 0)
_fsync = os.environ.get("LORA_ATLAS_FSYNC", "1") != "0"
points_passed = 0
_temp_counter = 0


def crash_point() -> None:
    """Count one step; die here (SIGKILL, like a power cut for the process) if asked to."""
    global points_passed
    points_passed += 1
    if _crash_at and points_passed == _crash_at:
        os.kill(os.getpid(), signal.SIGKILL)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for this file system"
    return exc.strerror or str(exc)


def failure(exc: OSError, verb: str, src: str, dst: str | None = None) -> FilesystemError:
    """The library error for an OSError of one step: DiskFull when the disk or quota is full
    (one clear message wherever it happens), else FilesystemError with the reason in words."""
    if exc.errno in DISK_FULL:
        return DiskFull(verb, src, dst)
    return FilesystemError(_reason(exc), verb, src, dst)


def _temp_name(folder: str) -> str:
    global _temp_counter
    _temp_counter += 1
    return os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{_temp_counter}")


def fsync_dir(path: str) -> None:
    """Make a rename in `path` durable (no-op where directories cannot be opened)."""
    if not _fsync:
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_folder(path: str) -> None:
    """Create one folder; an existing folder is fine, a file in its place is a FilesystemError."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise FilesystemError("a file with that name is in the way", "create folder", path) from None


def makedirs(path: str) -> list:
    """Create `path` and missing parents; return the folders created, outermost first."""
    created = []
    p = os.path.abspath(path)
    while not os.path.isdir(p):
        created.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for folder in reversed(created):
        try:
            make_folder(folder)
        except FilesystemError:
            raise
        except OSError as exc:
            raise failure(exc, "create folder", folder) from None
    return list(reversed(created))


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def safe_move(src: str, dst: str, *, durable: bool = False) -> bool:
    """Move `src` to `dst` (its folder must exist). Returns False when there was nothing to do."""
    if os.path.lexists(dst):
        if os.path.abspath(src) == os.path.abspath(dst):
            return False
        if same_file(src, dst):
            # Two links to one file: a link-then-unlink move was interrupted; finish it. With a
            # single link the names differ only by case on a case-insensitive disk: nothing to do.
            if os.lstat(src).st_nlink > 1:
                _unlink(src, dst)
            return False
        raise DestinationExists("move", src, dst)
    if not os.path.lexists(src):
        raise FilesystemError("the source does not exist (moved or deleted meanwhile?)", "move", src, dst)
    crash_point()
    try:
        if os.path.islink(src):
            os.rename(src, dst)
        else:
            try:
                os.link(src, dst)
            except FileExistsError:
                raise DestinationExists("move", src, dst) from None
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    _copy_across(src, dst)
                elif exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                    if os.path.lexists(dst):          # file systems without hard links
                        raise DestinationExists("move", src, dst) from None
                    os.rename(src, dst)
                    if durable:
                        fsync_dir(os.path.dirname(dst))
                    return True
                else:
                    raise
            crash_point()
            _unlink(src, dst)
    except FilesystemError:
        raise
    except OSError as exc:
        raise failure(exc, "move", src, dst) from None
    crash_point()
    if durable:
        fsync_dir(os.path.dirname(dst))
        fsync_dir(os.path.dirname(src))
    return True


def _unlink(src: str, dst: str) -> None:
    try:
        os.unlink(src)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FilesystemError(_reason(exc) + f" (the file is now at both paths; '{dst}' is complete)",
                              "move", src, dst) from None


def _copy_across(src: str, dst: str) -> None:
    """Another device: copy to a temporary file beside `dst`, fsync, publish without overwriting."""
    tmp = _temp_name(os.path.dirname(dst))
    try:
        shutil.copyfile(src, tmp)
        shutil.copystat(src, tmp)
        if _fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        crash_point()
        if os.path.lexists(dst):
            raise DestinationExists("move", src, dst)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(dst))


def atomic_write(path: str, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data`: temporary file, fsync, rename. Never leaves a half-written file."""
    tmp = _temp_name(os.path.dirname(path) or ".")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable and _fsync:
                os.fsync(fh.fileno())
        crash_point()
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise failure(exc, "write", path) from None
    crash_point()


def name_limit(folder: str) -> int:
    """The longest file name, in bytes, the file system holding `folder` (or its nearest existing
    parent: the folder may be about to be made) accepts: PC_NAME_MAX, else 255."""
    path = os.path.abspath(folder)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        limit = os.pathconf(path, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):      # Windows has no pathconf
        return 255
    return limit if limit and limit > 0 else 255


def fit_name(stem: str, tail: str, limit: int) -> str:
    """`stem + tail` within `limit` UTF-8 bytes: the stem is cut on a character boundary, the tail
    (a `-2` suffix, the extension) is kept whole, so the name still says what the file is."""
    room = max(limit - len(tail.encode("utf-8")), 0)
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore") + tail


def remove_temps(folder: str) -> list:
    """Remove this module's leftover temporary files in `folder` (a killed write or copy)."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if name.startswith(TEMP_PREFIX):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def read_bytes(path: str) -> bytes | None:
    """The bytes of a small file (config, index, note), or None when it does not exist. What is
    not a regular file raises NotRegularFile (an OSError) unopened: a FIFO would block forever."""
    try:
        with open_regular(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def sha256_of(path: str) -> str | None:
    """Full hash of a small generated file, or None when it is absent."""
    data = read_bytes(path)
    return None if data is None else hashlib.sha256(data).hexdigest()
