"""A full disk (issue 13, item 12): one clear `DiskFull` error (exit code 2), never a traceback nor
"the store is damaged, move it away", and nothing half-written.

Three spots failed differently: the lock file (0 KB free: ENOSPC from its write), the store's
migration (64-256 KB: SQLITE_FULL at COMMIT) and the store's opening (4-32 KB: SQLite cannot grow
its WAL index and says "disk I/O error"). Each spot has a test that forces it anywhere (a patched
os.pwrite, SQLite's own max_page_count, a patched connection); where the tests may mount a tmpfs
(root with CAP_SYS_ADMIN), the same three amounts of free space are also made on a real file system.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import types

import pytest

from lora_atlas.library import fs_safety, operations
from lora_atlas.library import store as store_mod
from lora_atlas.library.errors import DiskFull, StoreDamaged, StoreError
from lora_atlas.library.store import DB_NAME, STATE_DIR, Store
from lora_atlas.demo.synthetic_loras import write_fixture


def _small_library(root) -> str:
    root = str(root)
    os.makedirs(os.path.join(root, "styles"))
    write_fixture("sd1_lora", os.path.join(root, "styles", "ink.safetensors"), rank=1, sparse=True)
    with open(os.path.join(root, "broken.safetensors"), "wb") as fh:
        fh.write(b"not a safetensors file" * 4)
    return root


def _temporary_files(root) -> list:
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.startswith(fs_safety.TEMP_PREFIX)]


def _says_disk_full(code: int, err: str, path_part: str) -> None:
    assert code == 2, err
    assert "the disk is full" in err and "free some space" in err and path_part in err, err
    assert "Traceback" not in err and "move it away" not in err and "not a usable" not in err, err


# --- each spot, forced ------------------------------------------------------------------------

def test_lock_file_on_a_full_disk_is_disk_full(tmp_path, monkeypatch, run_cli, hashes):
    root = _small_library(tmp_path / "lib")
    before = hashes(root)

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "pwrite", no_space)
    with pytest.raises(DiskFull, match="lock"):
        operations.organize(root)
    code, _, err = run_cli("organize", root)
    _says_disk_full(code, err, os.path.join(STATE_DIR, "lock"))
    assert hashes(root) == before and not _temporary_files(root)
    code, out, err = run_cli("check", root)                  # readers still work, from a copy
    assert code == 0 and "disk is full" in err


def test_store_migration_on_a_full_disk_is_disk_full(tmp_path, monkeypatch, run_cli, hashes):
    # SQLite's own SQLITE_FULL: the store may not grow past its second page, so the first
    # migration cannot commit.
    root = _small_library(tmp_path / "lib")
    before = hashes(root)
    real_connect = store_mod._connect

    def tight(path):
        conn = real_connect(path)
        if path != ":memory:":
            conn.execute("PRAGMA max_page_count = 2")
        return conn
    monkeypatch.setattr(store_mod, "_connect", tight)
    with pytest.raises(DiskFull) as info:
        Store.open(root)
    assert DB_NAME in str(info.value)
    code, _, err = run_cli("organize", root)
    _says_disk_full(code, err, DB_NAME)
    assert hashes(root) == before and not _temporary_files(root)
    # Nothing half-written: the failed migration was rolled back whole.
    conn = sqlite3.connect(os.path.join(root, STATE_DIR, DB_NAME))
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'files'").fetchone()[0] == 0
    conn.close()
    monkeypatch.setattr(store_mod, "_connect", real_connect)
    assert operations.organize(root).run == 1                # space again: it just works


class _NoWalIndex:
    """A connection whose WAL cannot start, as SQLite reports it when the disk cannot hold the
    32 KiB WAL index (SQLITE_IOERR_SHMSIZE: "disk I/O error")."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if "journal_mode=WAL" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value):
        if name == "_conn":
            object.__setattr__(self, name, value)
        else:
            setattr(self._conn, name, value)


def test_store_opening_on_a_nearly_full_disk_is_disk_full_not_damaged(tmp_path, monkeypatch, run_cli, hashes):
    root = _small_library(tmp_path / "lib")
    before = hashes(root)
    real_connect = sqlite3.connect
    monkeypatch.setattr(store_mod.sqlite3, "connect", lambda *a, **kw: _NoWalIndex(real_connect(*a, **kw)))
    free = {"bytes": 16 * 1024}
    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(free=free["bytes"]))
    with pytest.raises(DiskFull):
        Store.open(root)
    code, _, err = run_cli("organize", root)
    _says_disk_full(code, err, DB_NAME)
    assert hashes(root) == before and not _temporary_files(root)
    # The same I/O error with space left is not a full disk, and still not a damaged store.
    free["bytes"] = 1 << 30
    with pytest.raises(StoreError) as info:
        Store.open(root)
    assert not isinstance(info.value, (DiskFull, StoreDamaged)) and "move it away" not in str(info.value)


# --- the same on a real, small file system ----------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """`fill(free_kib)`: the folder of a fresh 2 MiB tmpfs, filled to leave `free_kib` KiB, and a
    function that frees the space again. Skipped where mounting is not allowed (not root, or no
    CAP_SYS_ADMIN in the container): the forced tests above still cover every spot."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs needs root to mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    filler = mount_point / "filler"

    def fill(free_kib: int) -> None:
        avail = shutil.disk_usage(mount_point).free
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, avail - free_kib * 1024))

    def release() -> None:
        filler.unlink()
    yield mount_point, fill, release
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.mark.parametrize("free_kib", [0, 16, 128], ids=["lock-0KB", "store-open-16KB", "migration-128KB"])
def test_organize_on_a_real_full_disk(free_kib, small_disk, run_cli, hashes):
    mount_point, fill, release = small_disk
    root = _small_library(mount_point / "lib")
    before = hashes(root)
    fill(free_kib)
    code, _, err = run_cli("organize", root)
    _says_disk_full(code, err, STATE_DIR)
    assert hashes(root) == before and not _temporary_files(root)
    release()
    code, _, err = run_cli("organize", root)
    assert code == 0, err
    assert operations.reconcile_library(root).ok and not _temporary_files(root)
