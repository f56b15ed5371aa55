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


def test_long_trigger_phrase_is_linear_and_bounded(tmp_path):
    """Issue 13 item 4: 160k comma-separated words took minutes (list membership per word)."""
    import time
    from lora_atlas.engine.metadata import MAX_WORD, MAX_WORDS
    words = ",".join(f"w{i}" for i in range(160_000)) + ",w1," + "x" * 5000
    path = write_fixture("sd1_lora", str(tmp_path / "many.safetensors"), rank=1,
                         metadata={"modelspec.trigger_phrase": words, "ss_tag_frequency": "{}"})
    t = time.perf_counter()
    insp = inspect_file(path)
    assert time.perf_counter() - t < 5
    assert insp.ok and len(insp.trigger_words) == MAX_WORDS and insp.trigger_words[:2] == ["w0", "w1"]
    assert all(len(w) <= MAX_WORD for w in insp.trigger_words)


def test_metadata_texts_are_bounded(tmp_path):
    """Issue 13 item 6: a 20 MB title was copied into config.yaml, the store and every listing page."""
    from lora_atlas.engine.metadata import MAX_TEXT
    huge = "T" * 2_000_000
    path = write_fixture("sdxl_lora", str(tmp_path / "huge.safetensors"), rank=1,
                         metadata={"modelspec.title": huge, "ss_sd_model_name": huge + "pony",
                                   "modelspec.architecture": "stable-diffusion-xl-v1-base/lora" + huge})
    insp = inspect_file(path)
    assert insp.ok and len(insp.title) == MAX_TEXT and insp.title.endswith("…")
    assert len(insp.training_base) == MAX_TEXT
    assert max(len(e) for e in insp.evidence) < 400
    assert len(str(insp.to_dict())) < 20_000


def test_a_name_that_is_not_utf8_is_a_bad_name(tmp_path):
    """Issue 13 item 8: such a name crashed every --json output; now it is a bad file of its own."""
    from lora_atlas.engine.analysis import analyze_file
    path = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.safetensors")
    write_fixture("sd1_lora", path, rank=1)
    insp = inspect_file(path)
    assert (insp.ok, insp.error_code) == (False, "bad_name") and "not valid UTF-8" in insp.error
    assert analyze_file(path)["error_code"] == "bad_name"
