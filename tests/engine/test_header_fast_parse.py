"""The fast header parse (msgspec's typed decode, then one size-and-layout loop) accepts exactly
what the careful parse accepts and leaves every error to it: the same tensors, the same error
class and the same message for every way an entry can be wrong, through read_header as a scan
calls it (first sight of a table, then a cache hit)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from lora_atlas.engine import errors, safetensors_header
from lora_atlas.engine.safetensors_header import TensorEntry, parse_header, read_header

OK = {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}

# (tensors, bytes of data): each is wrong in one way the typed decode or the loop must refuse.
WRONG = {
    "unknown-dtype": ({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, 1),
    "dtype-not-string": ({"w": {"dtype": 16, "shape": [1], "data_offsets": [0, 2]}}, 2),
    "size-mismatch": ({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 2]}}, 2),
    "reversed-offsets": ({"w": {"dtype": "F16", "shape": [2], "data_offsets": [4, 0]}}, 4),
    "negative-offset": ({"w": {"dtype": "F16", "shape": [1], "data_offsets": [-2, 0]}}, 2),
    "three-offsets": ({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2, 4]}}, 2),
    "float-offsets": ({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0.0, 2.0]}}, 2),
    "beyond-data": ({"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}, 4),
    "gap": ({"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]},
             "b": {"dtype": "F16", "shape": [1], "data_offsets": [4, 6]}}, 6),
    "overlap": ({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
                 "b": {"dtype": "F16", "shape": [2], "data_offsets": [2, 6]}}, 6),
    "trailing-bytes": ({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, 10),
    "negative-dims": ({"w": {"dtype": "F16", "shape": [-1, -2], "data_offsets": [0, 4]}}, 4),
    "bool-dim": ({"w": {"dtype": "F16", "shape": [True, 2], "data_offsets": [0, 4]}}, 4),
    "float-dim": ({"w": {"dtype": "F16", "shape": [2.0], "data_offsets": [0, 4]}}, 4),
    "string-dim": ({"w": {"dtype": "F16", "shape": ["2"], "data_offsets": [0, 4]}}, 4),
    "shape-not-list": ({"w": {"dtype": "F16", "shape": "2", "data_offsets": [0, 4]}}, 4),
    "no-offsets": ({"w": {"dtype": "F16", "shape": [1]}}, 2),
    "entry-not-object": ({"w": [1, 2]}, 2),
    "huge-dim": ({"w": {"dtype": "F16", "shape": [1 << 70], "data_offsets": [0, 2]}}, 2),
    "exponent-dim": ({"w": {"dtype": "F16", "shape": [1e1], "data_offsets": [0, 20]}}, 20),
    "lone-surrogate-name": ({"\ud800": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, 2),
}


def _write(tmp_path, name, tensors, data_len, metadata=None, raw=None):
    doc = {"__metadata__": metadata, **tensors} if metadata is not None else tensors
    body = raw if raw is not None else json.dumps(doc, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 8)
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(body)) + body + b"\0" * data_len)
    return str(path), body


def _outcome(call):
    try:
        return call()
    except errors.HeaderError as exc:
        return type(exc), exc.reason


@pytest.fixture(autouse=True)
def _cold_cache():
    safetensors_header._TABLE_CACHE.clear()
    yield
    safetensors_header._TABLE_CACHE.clear()


@pytest.mark.parametrize("metadata", [{"ss_output_name": "x"}, None], ids=["metadata-first", "no-metadata"])
@pytest.mark.parametrize("case", sorted(WRONG))
def test_every_wrong_entry_gets_the_careful_parse_error(tmp_path, case, metadata):
    tensors, data_len = WRONG[case]
    path, body = _write(tmp_path, "x.safetensors", tensors, data_len, metadata)
    careful = _outcome(lambda: parse_header(body, 8 + len(body) + data_len))
    assert isinstance(careful, tuple) and issubclass(careful[0], errors.HeaderError), careful
    for _ in range(2):   # first sight, then again (nothing bad is ever cached)
        assert _outcome(lambda: read_header(path)) == careful


def test_a_writer_layout_takes_the_fast_parse_and_matches_the_careful_one(tmp_path):
    tensors = {f"lora_unet_b{i}.lora_down.weight": {"dtype": "BF16", "shape": [4, 8], "data_offsets": [64 * i, 64 * i + 64]}
               for i in range(3)}
    path, body = _write(tmp_path, "a.safetensors", tensors, 192, {"ss_network_dim": "4"})
    start = body.index(b',"lora_unet')
    assert safetensors_header._fast_table(memoryview(body)[start:].tobytes().rstrip(b" "), 192) is not None
    fast = read_header(path)
    careful = parse_header(body, 8 + len(body) + 192)
    assert fast.tensors == careful.tensors and fast.metadata == careful.metadata == {"ss_network_dim": "4"}
    assert fast.tensors["lora_unet_b1.lora_down.weight"] == TensorEntry("BF16", (4, 8), (64, 128))
    assert fast.has_empty is False and fast.table_digest is not None


def test_out_of_order_and_empty_tensors_are_valid_through_the_careful_parse(tmp_path):
    tensors = {"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
               "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
               "a": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]},
               "c": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    path, body = _write(tmp_path, "o.safetensors", tensors, 20, {"k": "v"})
    for _ in range(2):
        header = read_header(path)
        assert header.tensors == parse_header(body, 8 + len(body) + 20).tensors
        assert header.tensors["e"].shape == (0, 3) and header.has_empty is True


def test_metadata_after_the_tensors_is_read_on_every_file_that_repeats_the_table(tmp_path):
    raw = b'{"w":' + json.dumps(OK).encode() + b',"__metadata__":{"k":"v"}}'
    for name in ("one.safetensors", "two.safetensors"):
        path, _ = _write(tmp_path, name, {}, 12, raw=raw)
        assert read_header(path).metadata == {"k": "v"}


def test_a_bad_escape_in_metadata_is_an_invalid_header_even_for_a_known_table(tmp_path):
    table = b',"w":' + json.dumps(OK).encode() + b"}"
    good, _ = _write(tmp_path, "good.safetensors", {}, 12, raw=b'{"__metadata__":{"k":"v"}' + table)
    bad, _ = _write(tmp_path, "bad.safetensors", {}, 12, raw=b'{"__metadata__":{"k":"\\uZZZZ"}' + table)
    assert read_header(good).metadata == {"k": "v"}       # the table is now cached
    with pytest.raises(errors.InvalidHeader, match="not valid JSON"):
        read_header(bad)


def test_duplicate_names_resolve_as_the_careful_parse_does(tmp_path):
    entry = json.dumps(OK).encode()
    raw = b'{"__metadata__":{},"w":' + entry + b',"w":' + entry + b"}"
    path, body = _write(tmp_path, "d.safetensors", {}, 12, raw=raw)
    assert read_header(path).tensors == parse_header(body, 8 + len(body) + 12).tensors == {"w": TensorEntry("F16", (2, 3), (0, 12))}


def test_the_metadata_split_stays_linear_on_hostile_strings(tmp_path):
    """Metadata whose last value is not a string, after long strings: a split that re-cut each
    string into pieces on failure would take 2^n steps. Run in a child process with a timeout, as
    a regular expression stuck in C ignores signals."""
    script = (
        "import sys; sys.setrecursionlimit(10000)\n"
        "from lora_atlas.engine.safetensors_header import _split_metadata\n"
        "long = b'x' * 5000\n"
        "for raw in (b'{\"__metadata__\":{\"a\":\"' + long + b'\",\"b\":\"' + long + b'\",\"c\":3},\"w\":{}}',\n"
        "            b'{\"__metadata__\":{\"a\":\"' + long + b'\\\\n' + long + b'\",\"b\":\"' + long,\n"
        "            b'{\"__metadata__\":{' + b'\"k\":\"v\",' * 20000 + b'\"z\":1}}'):\n"
        "    assert _split_metadata(raw) is None, raw[:40]\n"
        "ok = _split_metadata(b'{\"__metadata__\":{\"a\":\"q\\\\\"x\",\"b\":\"' + long + b'\"},\"w\":1}')\n"
        "assert ok[0] == b'{\"a\":\"q\\\\\"x\",\"b\":\"' + long + b'\"}' and bytes(ok[1]) == b',\"w\":1}', ok\n"
        "print('linear')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and done.stdout.strip() == "linear", done.stderr
