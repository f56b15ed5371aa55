"""Stable ids: who a LoRA is, whatever its name or folder, without reading the whole file.

A fingerprint hashes the file's size, its whole safetensors header (bounded), 16 evenly spaced
4 KiB samples of the tensor data and its last 4 KiB. Files up to 1 MiB are hashed whole, so for
them the fingerprint is exact. The stable id is the fingerprint's first 24 hex digits; when two
different files share a fingerprint (the scanner checks with full hashes), the newcomer's id comes
from its full SHA-256 instead, so ids never collide.

The full SHA-256 (Civitai's AutoV2 is its first 10 hex digits) is read only on request and cached
by the store.
"""

from __future__ import annotations

import hashlib
import os
import struct

from ..engine.safetensors_header import MAX_HEADER_BYTES, open_regular

FINGERPRINT_VERSION = 1
ID_HEX = 24
WHOLE_FILE_LIMIT = 1 << 20
SAMPLES = 16
SAMPLE_BYTES = 4096
HEAD_MIN = 64 * 1024
CHUNK = 1 << 20


def fingerprint(path: str) -> tuple:
    """(hex fingerprint, full SHA-256 or None) of `path`; the full hash comes free for files small
    enough to be read whole. Raises OSError if the file cannot be read, or is not a regular file
    (a FIFO would block the read forever)."""
    h = hashlib.sha256(b"lora-atlas-fp/%d\0" % FINGERPRINT_VERSION)
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(struct.pack("<Q", size))
        if size <= WHOLE_FILE_LIMIT:
            data = fh.read(size)
            h.update(data)
            return h.hexdigest(), hashlib.sha256(data).hexdigest()
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        head_len = 8 + n if 0 < n <= min(MAX_HEADER_BYTES, size - 8) else 0
        head_len = min(size, max(head_len, HEAD_MIN))
        h.update(head)
        h.update(fh.read(head_len - len(head)))
        span = size - head_len
        for i in range(SAMPLES):
            fh.seek(head_len + span * i // SAMPLES)
            h.update(fh.read(SAMPLE_BYTES))
        fh.seek(max(head_len, size - SAMPLE_BYTES))
        h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest(), None


def stable_id(fp: str) -> str:
    return fp[:ID_HEX]


def id_from_sha256(sha: str) -> str:
    """The id a file gets when its fingerprint clashes with a different file's."""
    return hashlib.sha256(b"lora-atlas-id/full\0" + sha.encode()).hexdigest()[:ID_HEX]


def full_sha256(path: str) -> str:
    """The SHA-256 of the whole file; OSError for what is not a regular file (never blocks)."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def autov2(sha: str | None) -> str | None:
    """Civitai's AutoV2 short hash (first 10 hex digits of the SHA-256, upper case)."""
    return sha[:10].upper() if sha else None
