"""Stable ids and the incremental scan: one stat for unchanged files, moves followed, duplicates
reported, fingerprint clashes resolved by full hashes."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from lora_atlas.library import identity, operations, scan as scan_mod
from lora_atlas.library.scan import scan
from lora_atlas.library.store import Store
from lora_atlas.demo.synthetic_loras import write_fixture, write_tensors


def _big(path, fill: bytes, at: int | None = None):
    """A 4 MiB file: 8-byte header length + small JSON header + data; optionally one byte changed."""
    header = b'{"__metadata__":{}}    '
    data = bytearray(len(header).to_bytes(8, "little") + header + fill * ((4 << 20) // len(fill)))
    if at is not None:
        data[at] ^= 0xFF
    with open(path, "wb") as fh:
        fh.write(data)


def test_fingerprint_survives_rename_and_reads_little(tmp_path):
    a = tmp_path / "a.safetensors"
    _big(a, b"\1\2\3\4")
    fp, sha = identity.fingerprint(str(a))
    assert sha is None                                    # big file: no full read
    os.rename(a, tmp_path / "b.safetensors")
    assert identity.fingerprint(str(tmp_path / "b.safetensors"))[0] == fp


def test_small_files_get_their_full_hash_for_free(tmp_path):
    p = write_tensors(str(tmp_path / "a.safetensors"), [("lora_unet_x.lora_up.weight", (8, 1))])
    fp, sha = identity.fingerprint(p)
    assert sha == identity.full_sha256(p)
    assert identity.autov2(sha) == sha[:10].upper()


def test_fingerprint_clash_falls_back_to_full_hash(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    _big(root / "a.safetensors", b"\0")
    _big(root / "b.safetensors", b"\0", at=3_000_001)       # differs where no sample looks
    assert identity.fingerprint(str(root / "a.safetensors"))[0] == identity.fingerprint(str(root / "b.safetensors"))[0]
    store = Store.memory()
    report = scan(store, str(root))
    ids = dict(store.execute("SELECT path, lora_id FROM files").fetchall())
    assert ids["a.safetensors"] != ids["b.safetensors"]
    assert report.duplicates == []
    shas = dict(store.execute("SELECT path, sha256 FROM files").fetchall())
    assert shas["a.safetensors"] != shas["b.safetensors"]     # both hashed in full to tell them apart


def test_duplicates_are_reported_not_deleted(tmp_path):
    root = tmp_path / "lib"
    (root / "x").mkdir(parents=True)
    write_fixture("sd1_lora", str(root / "one.safetensors"), rank=1, sparse=True)
    shutil.copyfile(root / "one.safetensors", root / "x" / "copy.safetensors")
    report = scan(Store.memory(), str(root))
    assert report.duplicates == [["one.safetensors", "x/copy.safetensors"]]
    assert (root / "one.safetensors").exists() and (root / "x" / "copy.safetensors").exists()


def test_warm_rescan_reads_nothing_and_moves_are_followed(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / "styles").mkdir(parents=True)
    for i in range(5):
        write_fixture("sd1_lora", str(root / f"l{i}.safetensors"), rank=1, sparse=True, metadata={"n": str(i)})
    store = Store.open(str(root))
    first = scan(store, str(root))
    assert first.read == 5 and len(first.new) == 5
    ids = dict(store.execute("SELECT path, lora_id FROM files").fetchall())
    store.execute("INSERT INTO lora_settings VALUES (?, '{\"notes\": \"mine\"}')", (ids["l0.safetensors"],))

    reads = []
    real = identity.fingerprint
    monkeypatch.setattr(identity, "fingerprint", lambda p: reads.append(p) or real(p))
    inspected = []
    real_inspect = scan_mod.inspect_file
    monkeypatch.setattr(scan_mod, "inspect_file", lambda p: inspected.append(p) or real_inspect(p))
    warm = scan(store, str(root))
    assert (warm.read, warm.unchanged, reads, inspected) == (0, 5, [], [])

    os.rename(root / "l0.safetensors", root / "styles" / "renamed.safetensors")        # same inode
    shutil.copyfile(root / "l1.safetensors", root / "styles" / "copied.safetensors")    # new inode
    os.unlink(root / "l1.safetensors")
    moved = scan(store, str(root))
    assert moved.moved == [("l0.safetensors", "styles/renamed.safetensors"), ("l1.safetensors", "styles/copied.safetensors")]
    assert len(reads) == 1 and inspected == []            # only the copy was read; nothing re-inspected
    after = dict(store.execute("SELECT path, lora_id FROM files").fetchall())
    assert after["styles/renamed.safetensors"] == ids["l0.safetensors"]
    assert after["styles/copied.safetensors"] == ids["l1.safetensors"]
    notes = store.execute("SELECT s.data FROM lora_settings s JOIN files f ON f.lora_id = s.lora_id "
                          "WHERE f.path = 'styles/renamed.safetensors'").fetchone()
    assert notes is not None                              # settings follow the file


def test_changed_and_vanished_files(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    write_fixture("sd1_lora", str(root / "a.safetensors"), rank=1, sparse=True)
    write_fixture("sd1_lora", str(root / "b.safetensors"), rank=1, sparse=True, metadata={"x": "1"})
    store = Store.memory()
    scan(store, str(root))
    write_fixture("sdxl_lora", str(root / "a.safetensors"), rank=1, sparse=True)
    os.unlink(root / "b.safetensors")
    report = scan(store, str(root))
    assert report.changed == ["a.safetensors"] and report.vanished == ["b.safetensors"]
    arch = store.execute("SELECT c.architecture FROM files f JOIN classification c USING (lora_id)").fetchone()[0]
    assert arch == "sdxl"


def test_progress_callback_and_problems_do_not_stop_the_scan(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / "locked").mkdir(parents=True)
    (root / "nested" / ".lora-atlas").mkdir(parents=True)
    write_fixture("sd1_lora", str(root / "nested" / "inner.safetensors"), rank=1, sparse=True)
    write_fixture("sd1_lora", str(root / "a.safetensors"), rank=1, sparse=True)
    os.symlink(root, root / "loop")
    real = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)
    events = []
    report = scan(Store.memory(), str(root), progress=lambda *e: events.append(e))
    assert report.files == 1
    assert any("locked/" in p and "cannot list" in p for p in report.problems)
    assert any("nested/" in p and "another LoRA library" in p for p in report.problems)
    assert any("loop" in p and "not followed" in p for p in report.problems)
    assert events[-1] == ("read", 1, 1, None)


def test_vanishing_mid_scan_is_reported(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    write_fixture("sd1_lora", str(root / "a.safetensors"), rank=1, sparse=True)
    write_fixture("sd1_lora", str(root / "b.safetensors"), rank=1, sparse=True, metadata={"x": "1"})
    real = identity.fingerprint

    def vanish(path):
        if path.endswith("a.safetensors"):
            os.unlink(path)
        return real(path)
    monkeypatch.setattr(identity, "fingerprint", vanish)
    report = scan(Store.memory(), str(root))
    assert report.new == ["b.safetensors"]
    assert any("a.safetensors: vanished" in p for p in report.problems)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_named_like_a_lora_is_skipped_as_unreadable_never_opened(tmp_path, deadline):
    root = tmp_path / "lib"
    (root / "styles").mkdir(parents=True)
    write_fixture("sd1_lora", str(root / "styles" / "ink.safetensors"), rank=1, sparse=True)
    os.mkfifo(root / "styles" / "pipe.safetensors")
    (root / "zero.safetensors").symlink_to("/dev/zero")
    with pytest.raises(OSError, match="named pipe"):
        identity.fingerprint(str(root / "styles" / "pipe.safetensors"))
    with pytest.raises(OSError, match="named pipe"):
        identity.full_sha256(str(root / "styles" / "pipe.safetensors"))
    report = scan(Store.memory(), str(root))
    assert report.files == 1 and report.new == ["styles/ink.safetensors"]
    assert any(p.startswith("styles/pipe.safetensors: unreadable") and "named pipe" in p for p in report.problems)
    assert any(p.startswith("zero.safetensors: unreadable") and "device" in p for p in report.problems)
    result = operations.organize(str(root))                  # the writer lock is released: no hang
    assert any("pipe.safetensors: unreadable" in p for p in result.problems)
    assert stat.S_ISFIFO(os.lstat(root / "styles" / "pipe.safetensors").st_mode)   # left where it was
