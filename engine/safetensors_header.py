"""Read and validate a safetensors header without touching tensor data.

Hostile input is expected: the length prefix is bounded before anything is allocated, the JSON
is checked field by field, and every tensor's byte range must fit the data section exactly
(contiguous from 0, size = prod(shape) x dtype size, nothing left over), as the safetensors
format itself requires.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import re
import stat
import struct
import sys
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import msgspec
import orjson

from .errors import (
    BadOffsets,
    EmptyFile,
    HeaderTooLarge,
    InvalidHeader,
    TruncatedFile,
    UnknownDtype,
    UnreadableFile,
)

# The reference implementation refuses headers over 100 MB; a LoRA's is well under 2 MB.
MAX_HEADER_BYTES = 100_000_000

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}


_Count = Annotated[int, msgspec.Meta(ge=0)]


class TensorEntry(msgspec.Struct, frozen=True, gc=False):
    """One tensor of a header, as the file states it. Its field types are the schema the fast
    parse checks in C (a known dtype, non-negative integer dimensions, two non-negative integer
    offsets); the byte-size and layout rules are checked after. Immutable and shared by every file
    whose tensor table is identical; never tracked by the cycle collector (it holds no container
    that could form a cycle)."""

    dtype: Literal[tuple(DTYPE_BYTES)]
    shape: tuple[_Count, ...]
    data_offsets: tuple[_Count, _Count]   # [begin, end) relative to the data section

    @property
    def begin(self) -> int:
        return self.data_offsets[0]

    @property
    def end(self) -> int:
        return self.data_offsets[1]


@dataclass(frozen=True)
class Header:
    """A validated header. `tensors` maps name -> TensorEntry, offsets relative to `data_start`;
    treat it as read-only, files with identical tensor tables share it.
    `table_digest` identifies the tensor table (names, dtypes, shapes, offsets, data length), so
    callers can memoize whatever they derive from it; None when the header has an unusual form."""

    tensors: dict
    metadata: dict
    data_start: int
    file_size: int
    table_digest: bytes | None = None
    has_empty: bool = True   # some tensor holds no bytes (a zero dimension): False lets callers skip that check


# A library repeats a few hundred tensor tables (one per trainer, version and rank) across
# thousands of files that differ only in their metadata. The table is validated once per digest
# (and kept with whether a tensor is empty); later files pay for a hash and the metadata parse
# only. A table seen for the first time takes the fast parse (msgspec decodes it straight into
# TensorEntry values, checking their types in C, then one loop checks sizes and layout); anything
# it does not accept takes the careful parse, which accepts every valid layout and names what is
# wrong with the rest.
_TABLE_CACHE: OrderedDict = OrderedDict()
_TABLE_CACHE_SIZE = 512

# `"__metadata__":{...}` with string keys and values only (what every writer produces). Each string
# is matched atomically (never re-split when a later part fails), which keeps the match linear on
# hostile input: by possessive quantifiers where Python has them (3.11+), else by the equivalent
# atomic lookahead whose capture a backreference then consumes (group n of the pattern).


def _string(n: int) -> bytes:
    if sys.version_info >= (3, 11):
        return rb'"(?:[^"\\]++|\\.)*+"'
    return rb'"(?=((?:[^"\\]+|\\.)*))\%d"' % n


_METADATA = re.compile(rb'"__metadata__":(\{(?:' + _string(2) + rb':' + _string(3) + rb'(?:,' + _string(4) + rb':'
                       + _string(5) + rb')*)?\})')


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def not_regular(mode: int) -> str | None:
    """Why something of this `st_mode` is never read as a LoRA ("is a named pipe (FIFO), not a
    regular file"), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((kind for test, kind in _KINDS if test(mode)), "a special file")
    return f"is {kind}, not a regular file"


class NotRegularFile(OSError):
    """`path` names something other than a regular file (`reason` says what)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def open_regular(path: str):
    """`path` opened for binary reading if it is a regular file, else NotRegularFile. A FIFO
    named like a LoRA would block a plain open() until a writer comes (forever), and a device
    never ends: so the name is stat'ed first (a device is never opened), then opened with
    O_NONBLOCK and checked again on the descriptor (it may have been swapped meanwhile)."""
    _check_regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(path, os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_regular(path: str, mode: int) -> None:
    reason = not_regular(mode)
    if reason is not None:
        raise NotRegularFile(path, reason)


def read_header(path: str) -> Header:
    """Read 8 + N bytes of `path` and validate them against the file's size."""
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise EmptyFile("empty file (0 bytes)")
            if size < 8:
                raise TruncatedFile(f"truncated: {size} bytes, shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", fh.read(8))
            _check_length(n, size)
            raw = fh.read(n)
    except NotRegularFile as exc:
        raise UnreadableFile(exc.reason) from None
    except IsADirectoryError:
        raise UnreadableFile("is a directory, not a file") from None
    except FileNotFoundError:
        raise UnreadableFile("file not found (it may have been moved or deleted)") from None
    except PermissionError:
        raise UnreadableFile("permission denied") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) != n:
        raise TruncatedFile(f"truncated: header needs {n} bytes, file ended after {len(raw)}")
    return _parse_with_table_cache(raw, size)


def _parse_with_table_cache(raw: bytes, size: int) -> Header:
    split = _split_metadata(raw)
    if split is None:
        return parse_header(raw, size)
    meta_json, table_bytes = split
    data_len = size - 8 - len(raw)
    hasher = hashlib.sha256(b"{")   # SHA-256: the fastest collision-resistant hash here (CPU SHA extensions)
    hasher.update(table_bytes)
    hasher.update(str(data_len).encode())
    digest = hasher.digest()
    table = _TABLE_CACHE.get(digest)
    if table is None:
        with gc_paused():
            table = _fast_table(table_bytes, data_len)
        if table is None:   # an error to name, or a valid layout the fast parse does not take
            header = parse_header(raw, size)
            _remember(digest, (header.tensors, header.has_empty))
            return replace(header, table_digest=digest)
        _remember(digest, table)
    else:
        _TABLE_CACHE.move_to_end(digest)
    try:
        metadata = _METADATA_DECODER.decode(meta_json) if meta_json else {}
    except msgspec.DecodeError:   # e.g. a bad escape: the careful parse names it
        return parse_header(raw, size)
    tensors, has_empty = table
    return Header(tensors, metadata, 8 + len(raw), size, digest, has_empty)


def _remember(digest: bytes, table: tuple) -> None:
    _TABLE_CACHE[digest] = table
    if len(_TABLE_CACHE) > _TABLE_CACHE_SIZE:
        _TABLE_CACHE.popitem(last=False)


_TABLE_DECODER = msgspec.json.Decoder(dict[str, TensorEntry])
_METADATA_DECODER = msgspec.json.Decoder(dict[str, str])


def _fast_table(table, data_len: int) -> tuple | None:
    """(the validated table, whether a tensor is empty) of a header whose tensors are laid out in
    order, from `table` (the header's bytes after its opening brace and metadata); None for
    anything else."""
    body = table[1:] if table[:1] == b"," else table
    try:
        tensors = _TABLE_DECODER.decode(b"{" + body)
    except msgspec.DecodeError:   # also every ValidationError
        return None
    sizes = DTYPE_BYTES
    prod = math.prod
    position = 0
    empty = False
    for entry in tensors.values():
        begin, end = entry.data_offsets
        if begin != position or end - begin != prod(entry.shape) * sizes[entry.dtype]:
            return None
        if end == begin:
            empty = True
        position = end
    return (tensors, empty) if position == data_len else None


def _split_metadata(raw: bytes):
    """(metadata JSON or None, a view of the header's bytes without it and without the opening
    brace), or None for an unusual layout (which then takes the full parse). Only the first key
    is looked at, where the reference writer puts `__metadata__`, so a look-alike inside a string
    can never be taken for it. The rest is the table's cache key and what the fast parse decodes
    (as an object of its own); whatever that parse refuses is parsed again whole, carefully."""
    if raw[:1] != b"{":
        return None
    end = len(raw)
    while end > len(raw) - 8 and end and raw[end - 1] == 0x20:   # the padding to 8 bytes (varies with
        end -= 1                                                   # the metadata's length); bounded
    if not raw.startswith(b'{"__metadata__":'):
        if b'"__metadata__"' in raw:   # metadata after a tensor (or spaced): the careful parse finds it
            return None
        return None, memoryview(raw)[1:end]
    m = _METADATA.match(raw, 1, end)
    if m is None:
        return None
    return m.group(1), memoryview(raw)[m.end():end]


def _check_length(n: int, size: int) -> None:
    if n > MAX_HEADER_BYTES:
        raise HeaderTooLarge(f"header length {n} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")
    if n > size - 8:
        # Within the limit but past the end: the file was cut short (an incomplete download).
        raise TruncatedFile(f"truncated: header length {n} bytes is larger than the file ({size} bytes)")
    if n < 2:
        raise InvalidHeader(f"header length {n} bytes is too short for a JSON object")


def parse_header(raw: bytes, file_size: int) -> Header:
    """Validate the JSON header `raw` (without its 8-byte length) for a file of `file_size` bytes."""
    with gc_paused():
        return _parse_header(raw, file_size)


@contextmanager
def gc_paused():
    """The cycle collector off for a while. Parsing a table allocates tens of thousands of
    containers (a dict and two lists a tensor, then the table's tuples) that can form no cycle;
    each burst of allocations would otherwise start collections that traverse every object the
    process keeps (caches included): a third of a first scan's time. Turned back on only by the
    caller that turned it off, so nesting and threads never leave it off."""
    was_on = gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _parse_header(raw: bytes, file_size: int) -> Header:
    if raw[:1] != b"{":
        raise InvalidHeader("header is not a JSON object (does not start with '{')")
    try:
        doc = orjson.loads(raw)   # the padding spaces are JSON whitespace
    except orjson.JSONDecodeError as exc:
        raise InvalidHeader(f"header is not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(doc, dict):
        raise InvalidHeader("header is not a JSON object")
    metadata = doc.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise InvalidHeader("__metadata__ is not an object")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise InvalidHeader(f"__metadata__ value for '{key}' is not a string")
    data_start = 8 + len(raw)
    tensors = _validate_tensors(doc, file_size - data_start)
    has_empty = any(begin == end for begin, end in (entry.data_offsets for entry in tensors.values()))
    return Header(tensors=tensors, metadata=metadata, data_start=data_start, file_size=file_size, has_empty=has_empty)


def _validate_tensors(doc: dict, data_len: int) -> dict:
    tensors = {}
    sizes = DTYPE_BYTES
    position = 0
    in_order = True  # each tensor starts where the one before it ends (how writers lay them out)
    for name, info in doc.items():
        try:
            dtype = info["dtype"]
            shape = info["shape"]
            begin, end = info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise InvalidHeader(f"tensor '{name}': entry needs dtype, shape and two data_offsets") from None
        item = sizes.get(dtype)
        if item is None:
            if isinstance(dtype, str):
                raise UnknownDtype(f"tensor '{name}': unknown dtype '{dtype}'")
            raise InvalidHeader(f"tensor '{name}': dtype is not a string")
        count = 1
        try:
            for dim in shape:
                if dim.__class__ is not int or dim < 0:
                    raise InvalidHeader(f"tensor '{name}': shape {shape} is not a list of non-negative integers")
                count *= dim
        except TypeError:
            raise InvalidHeader(f"tensor '{name}': shape is not a list") from None
        if begin.__class__ is not int or end.__class__ is not int or begin < 0 or end < begin:
            raise BadOffsets(f"tensor '{name}': data_offsets [{begin}, {end}] are not an increasing pair")
        if end - begin != count * item:
            raise BadOffsets(
                f"tensor '{name}': data_offsets span {end - begin} bytes but shape {shape} of {dtype} needs {count * item}"
            )
        tensors[name] = TensorEntry(dtype, tuple(shape), (begin, end))
        if begin == position:
            position = end
        else:
            in_order = False
    if not in_order:  # sort the spans to find the first gap or overlap (or that there is none)
        position = 0
        for begin, end in sorted(entry.data_offsets for entry in tensors.values()):
            if begin != position:
                what = "overlap" if begin < position else "leave a gap"
                raise BadOffsets(f"tensor data_offsets {what} at byte {min(begin, position)} of the data section")
            position = end
    if position > data_len:
        raise TruncatedFile(
            f"truncated: the tensors need {position} bytes of data but the file holds {max(data_len, 0)} "
            "(incomplete download?)"
        )
    if position != data_len:
        raise BadOffsets(f"data section is {data_len} bytes but the tensors cover only {position}")
    return tensors
