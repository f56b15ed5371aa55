"""Safe moves and atomic writes: never overwrite, same file is a no-op, cross-device fallback,
errors name the verb and both paths."""

from __future__ import annotations

import errno
import os

import pytest

from lora_atlas.library import fs_safety
from lora_atlas.library.errors import DestinationExists, FilesystemError


def test_move_refuses_to_overwrite(tmp_path):
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    with pytest.raises(DestinationExists) as info:
        fs_safety.safe_move(str(tmp_path / "a"), str(tmp_path / "b"))
    assert info.value.verb == "move" and info.value.src.endswith("a") and info.value.dst.endswith("b")
    assert "could not move" in str(info.value) and "nothing was overwritten" in str(info.value)
    assert (tmp_path / "a").read_bytes() == b"A" and (tmp_path / "b").read_bytes() == b"B"


def test_same_file_is_a_no_op_and_a_half_done_link_move_is_finished(tmp_path):
    (tmp_path / "a").write_bytes(b"A")
    assert fs_safety.safe_move(str(tmp_path / "a"), str(tmp_path / "a")) is False
    os.link(tmp_path / "a", tmp_path / "b")                 # killed between link and unlink
    assert fs_safety.safe_move(str(tmp_path / "a"), str(tmp_path / "b")) is False
    assert not (tmp_path / "a").exists() and (tmp_path / "b").read_bytes() == b"A"


def test_cross_device_falls_back_to_copy_and_replace(tmp_path, monkeypatch):
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    (tmp_path / "d").mkdir()

    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "link", no_link)
    assert fs_safety.safe_move(str(tmp_path / "a"), str(tmp_path / "d" / "a"))
    assert (tmp_path / "d" / "a").read_bytes() == b"x" * 100_000
    assert not (tmp_path / "a").exists()
    assert [n for n in os.listdir(tmp_path / "d") if n.startswith(fs_safety.TEMP_PREFIX)] == []


def test_file_systems_without_hard_links_use_rename(tmp_path, monkeypatch):
    (tmp_path / "a").write_bytes(b"A")
    monkeypatch.setattr(os, "link", lambda s, d: (_ for _ in ()).throw(OSError(errno.EPERM, "no links")))
    fs_safety.safe_move(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "b").read_bytes() == b"A"


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(FilesystemError, match="source does not exist"):
        fs_safety.safe_move(str(tmp_path / "nope"), str(tmp_path / "b"))


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.yaml"
    target.write_bytes(b"old")
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(FilesystemError, match="disk is full") as info:
        fs_safety.atomic_write(str(target), b"new")
    assert info.value.verb == "write"
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["config.yaml"]             # the temporary file is gone
