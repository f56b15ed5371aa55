"""Every bad input gets ok=False, a stable code and a one-line reason; none raises."""

from __future__ import annotations

import os
import struct

import pytest

from lora_atlas.engine.inspect import inspect_file
from lora_atlas.demo.synthetic_loras import checkpoint_tensors, embedding_tensors, write_fixture, write_tensors


def _write(path, data: bytes):
    path.write_bytes(data)
    return str(path)


def test_bad_files(tmp_path):
    good = write_fixture("sd1_nometa", str(tmp_path / "good.safetensors"), rank=1)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(open(good, "rb").read()[: os.path.getsize(good) // 2])
    cases = {
        "empty": _write(tmp_path / "empty.safetensors", b""),
        "random": _write(tmp_path / "random.safetensors", os.urandom(4096)),
        "truncated": str(truncated),
        "too_large": _write(tmp_path / "big.safetensors", struct.pack("<Q", 10**12) + b"{}"),
        "beyond_file": _write(tmp_path / "beyond.safetensors", struct.pack("<Q", 4096) + b"{}"),
        "bad_json": _write(tmp_path / "json.safetensors", struct.pack("<Q", 8) + b'{"a":1,,'),
        "offsets": _write(tmp_path / "offsets.safetensors",
                          struct.pack("<Q", 60) + b'{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,3]}}'.ljust(60) + b"\0" * 4),
        "dtype": _write(tmp_path / "dtype.safetensors",
                        struct.pack("<Q", 56) + b'{"w":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}'.ljust(56) + b"\0"),
        "pickle_ext": _write(tmp_path / "model.ckpt", b"PK\x03\x04rest"),
        "pickle_pt": _write(tmp_path / "lora.pt", b"\x80\x02}q\x00."),
        "pickle_named_safetensors": _write(tmp_path / "renamed.safetensors", b"\x80\x04\x95" + b"\0" * 40),
        "checkpoint": write_tensors(str(tmp_path / "ckpt.safetensors"), checkpoint_tensors()),
        "embedding": write_tensors(str(tmp_path / "emb.safetensors"), embedding_tensors()),
        "vanished": str(tmp_path / "gone.safetensors"),
        "directory": str(tmp_path),
        "no_lora_tensors": write_tensors(str(tmp_path / "other.safetensors"), [("foo", (3,)), ("bar", (2, 2))]),
    }
    expected = {
        "empty": ("empty", "empty file"),
        "random": ("header_too_large", "header length"),
        "truncated": ("truncated", "truncated"),
        "too_large": ("header_too_large", "exceeds"),
        "beyond_file": ("truncated", "larger than the file"),
        "bad_json": ("invalid_header", "not valid JSON"),
        "offsets": ("bad_offsets", "tensor 'w'"),
        "dtype": ("unknown_dtype", "'Q8'"),
        "pickle_ext": ("pickle", "convert to safetensors"),
        "pickle_pt": ("pickle", "pickle format (.pt)"),
        "pickle_named_safetensors": ("pickle", "pickle format"),
        "checkpoint": ("checkpoint", "not a LoRA"),
        "embedding": ("embedding", "models/embeddings"),
        "vanished": ("unreadable", "not found"),
        "directory": ("unreadable", "directory"),
        "no_lora_tensors": ("not_a_lora", "no LoRA tensors"),
    }
    for case, path in cases.items():
        r = inspect_file(path)
        code, words = expected[case]
        assert not r.ok, case
        assert r.error_code == code, (case, r.error)
        assert words in r.error, (case, r.error)
        assert "\n" not in r.error
        assert r.architecture is None and r.blocks is None and r.adapter is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path):
    path = write_fixture("sd1_nometa", str(tmp_path / "locked.safetensors"), sparse=True)
    os.chmod(path, 0)
    r = inspect_file(path)
    assert (r.ok, r.error_code) == (False, "unreadable")


def test_dangling_symlink_is_unreadable(tmp_path):
    link = tmp_path / "dangling.safetensors"
    link.symlink_to(tmp_path / "missing-target")
    r = inspect_file(str(link))
    assert (r.ok, r.error_code) == (False, "unreadable")
