"""One writer per library: organize, clean, undo, repair and a config edit hold `<root>/.lora-atlas/lock`.

The lock is an OS advisory lock (flock / msvcrt), so it disappears with the process that held it,
even after a kill: there is no stale lock to clean up. Readers (check, reconcile, a ComfyUI server
listing LoRAs) never take it; SQLite's WAL mode lets them read while the writer works.
"""

from __future__ import annotations

import contextlib
import os
import time

from . import fs_safety
from .errors import LibraryBusy
from .store import STATE_DIR

LOCK_NAME = "lock"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


@contextlib.contextmanager
def library_lock(root: str, action: str = "organize", wait: float = 0.0):
    """Hold the library's writer lock, or raise `LibraryBusy` naming who holds it: at once, or
    after `wait` seconds for a short write (a config edit) that may meet a scan about to end. A
    lock file that cannot be created or written is a FilesystemError (DiskFull on a full disk)."""
    state = os.path.join(root, STATE_DIR)
    path = os.path.join(state, LOCK_NAME)
    try:
        os.makedirs(state, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise fs_safety.failure(exc, "create the lock file", path) from None
    try:
        deadline = time.monotonic() + wait
        locked = _try_lock(fd)
        while not locked and time.monotonic() < deadline:
            time.sleep(0.05)
            locked = _try_lock(fd)
        if not locked:
            holder = _read_holder(fd)
            raise LibraryBusy(f"the library '{root}' is busy: {holder or 'another process'} is changing it; "
                              "try again when it has finished (reading commands such as check and reconcile still work)")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{action} (pid {os.getpid()})".encode(), 0)
        except OSError as exc:          # a full disk: say so (the lock goes with the descriptor)
            raise fs_safety.failure(exc, "write the lock file", path) from None
        try:
            yield
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            _unlock(fd)
    finally:
        os.close(fd)


def is_locked(root: str) -> bool:
    """True when a writer holds the lock right now (a hint for readers; it may change at once)."""
    path = os.path.join(root, STATE_DIR, LOCK_NAME)
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        if _try_lock(fd):
            _unlock(fd)
            return False
        return True
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    if fcntl:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
