"""One small byte literal per way a safetensors header can be wrong."""

from __future__ import annotations

import json
import os
import struct

import pytest

from lora_atlas.engine import errors
from lora_atlas.engine.safetensors_header import MAX_HEADER_BYTES, TensorEntry, parse_header, read_header


def _file(tmp_path, header, data=b"", name="x.safetensors", raw=None):
    body = raw if raw is not None else json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)
    return str(path)


def test_valid_header_reads_tensors_and_metadata(tmp_path):
    header = {"a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
              "b": {"dtype": "BF16", "shape": [], "data_offsets": [8, 10]},
              "__metadata__": {"k": "v"}}
    h = read_header(_file(tmp_path, header, b"\0" * 10))
    assert h.tensors["a"] == TensorEntry("F16", (2, 2), (0, 8))
    assert h.tensors["b"] == TensorEntry("BF16", (), (8, 10))
    assert (h.tensors["a"].begin, h.tensors["a"].end) == (0, 8)
    assert h.metadata == {"k": "v"}
    assert h.data_start == 8 + len(json.dumps(header))


def test_header_padded_with_spaces_is_accepted(tmp_path):
    raw = json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode() + b"    "
    assert read_header(_file(tmp_path, None, b"\0" * 4, raw=raw)).tensors["a"].shape == (1,)


@pytest.mark.parametrize(
    "content, error, words",
    [
        (b"", errors.EmptyFile, "empty"),
        (b"\x01\x02\x03", errors.TruncatedFile, "truncated"),
        (struct.pack("<Q", 1 << 60) + b"{}", errors.HeaderTooLarge, "exceeds"),
        (struct.pack("<Q", 64) + b"{}", errors.TruncatedFile, "larger than the file"),
        (struct.pack("<Q", 4) + b"{abc", errors.InvalidHeader, "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", errors.InvalidHeader, "not a JSON object"),
        (bytes(range(256)) * 4, errors.HeaderTooLarge, "exceeds"),
    ],
    ids=["empty", "shorter-than-8", "absurd-length", "length-beyond-file", "bad-json", "json-array", "random-bytes"],
)
def test_container_errors(tmp_path, content, error, words):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        read_header(str(path))
    assert words in info.value.reason


@pytest.mark.parametrize(
    "tensors, data_len, error, words",
    [
        ({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, 1, errors.UnknownDtype, "unknown dtype 'Q4'"),
        ({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 2]}}, 2, errors.BadOffsets, "needs 4"),
        ({"w": {"dtype": "F16", "shape": [2], "data_offsets": [4, 0]}}, 4, errors.BadOffsets, "increasing"),
        ({"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}, 4, errors.TruncatedFile, "truncated"),
        ({"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]},
          "b": {"dtype": "F16", "shape": [1], "data_offsets": [4, 6]}}, 6, errors.BadOffsets, "gap"),
        ({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
          "b": {"dtype": "F16", "shape": [2], "data_offsets": [2, 6]}}, 6, errors.BadOffsets, "overlap"),
        ({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, 10, errors.BadOffsets, "cover only"),
        ({"w": {"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}}, 2, errors.InvalidHeader, "non-negative"),
        ({"w": {"dtype": "F16", "shape": "2", "data_offsets": [0, 2]}}, 2, errors.InvalidHeader, "shape"),
        ({"w": {"dtype": "F16", "shape": [1]}}, 2, errors.InvalidHeader, "data_offsets"),
        ({"w": [1, 2]}, 2, errors.InvalidHeader, "entry needs"),
        ({"__metadata__": {"n": 3}}, 0, errors.InvalidHeader, "not a string"),
        ({"__metadata__": ["x"]}, 0, errors.InvalidHeader, "__metadata__"),
    ],
    ids=["unknown-dtype", "size-mismatch", "reversed-offsets", "beyond-data", "gap", "overlap", "trailing-bytes",
         "negative-dim", "shape-not-list", "no-offsets", "entry-not-object", "metadata-not-string", "metadata-not-object"],
)
def test_tensor_entry_errors(tensors, data_len, error, words):
    raw = json.dumps(tensors).encode()
    with pytest.raises(error) as info:
        parse_header(raw, 8 + len(raw) + data_len)
    assert words in info.value.reason


def test_error_names_the_tensor():
    raw = json.dumps({"lora_unet_x.lora_up.weight": {"dtype": "X9", "shape": [1], "data_offsets": [0, 1]}}).encode()
    with pytest.raises(errors.UnknownDtype, match="lora_unet_x.lora_up.weight"):
        parse_header(raw, 8 + len(raw) + 1)


def test_limit_is_checked_before_reading(tmp_path):
    # A header length just over the limit in a small file: refused without allocating it.
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    with pytest.raises(errors.HeaderTooLarge):
        read_header(str(path))


def test_missing_and_directory_are_unreadable(tmp_path):
    with pytest.raises(errors.UnreadableFile, match="not found"):
        read_header(str(tmp_path / "nope.safetensors"))
    with pytest.raises(errors.UnreadableFile, match="directory"):
        read_header(str(tmp_path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_and_device_are_unreadable_without_blocking(tmp_path, deadline):
    # A FIFO named like a LoRA: a plain open() for reading waits for a writer forever.
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(errors.UnreadableFile, match=r"named pipe \(FIFO\), not a regular file"):
        read_header(str(fifo))
    device = tmp_path / "zero.safetensors"
    device.symlink_to("/dev/zero")                  # never ends; its size says 0
    with pytest.raises(errors.UnreadableFile, match="a device, not a regular file"):
        read_header(str(device))


def test_header_length_past_the_end_is_truncated_not_too_large(tmp_path):
    # Within the 100 MB limit but beyond the file: the file was cut short (an incomplete download).
    body = json.dumps({"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body[:10])
    with pytest.raises(errors.TruncatedFile) as info:
        read_header(str(path))
    assert info.value.code == "truncated" and "larger than the file" in info.value.reason
