"""Facts the safetensors `__metadata__` tells about a LoRA (kohya `ss_*` and SAI `modelspec.*`).

Trigger words, title, the checkpoint it was trained on, a base-model hint for SDXL descendants
that tensors cannot tell apart (Pony, Illustrious, NoobAI, ...) and the embedded thumbnail.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter

import orjson

TOP_TAGS = 5
# What is copied from metadata into results, a LoRA's config file, the store and every listing is
# bounded: a header may be up to 100 MB of text, and one 20 MB title must not travel everywhere.
MAX_TEXT = 200             # a title, a checkpoint name
MAX_WORD = 200             # one trigger word or phrase
MAX_WORDS = 32             # trigger words kept
SEARCHED = 4096            # how much of a field the base-model patterns read

# Hint -> pattern over checkpoint names, titles and tags. First match wins, so descendants
# (NoobAI is trained from Illustrious) come before their parents.
_BASE_HINTS = (
    ("noobai", re.compile(r"noob", re.I)),
    ("illustrious", re.compile(r"illustrious|illu(?:stri)?[-_ ]?xl|\bilxl\b|\bill?u\b", re.I)),
    ("pony", re.compile(r"pony|autismmix|\bpdxl\b", re.I)),
    ("animagine", re.compile(r"animagine", re.I)),
    ("sdxl_base", re.compile(r"sd_xl_base|sdxl[-_ ]?base", re.I)),
)
_PONY_TAGS = ("score_9", "score_8_up", "score_7_up", "score_8", "score_9_up")


def tag_frequencies(meta: dict) -> Counter:
    raw = meta.get("ss_tag_frequency")
    counts: Counter = Counter()
    if not raw:
        return counts
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return counts
    if isinstance(doc, dict):
        for tags in doc.values():
            if isinstance(tags, dict):
                for tag, n in tags.items():
                    if isinstance(n, (int, float)) and isinstance(tag, str):
                        counts[tag.strip()] += int(n)
    return counts


def bounded(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """`text` cut to `limit` characters, the cut marked with "…"."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def trigger_words(meta: dict, tags: Counter | None = None) -> list[str]:
    """`modelspec.trigger_phrase` first, then the most frequent training tags: at most MAX_WORDS,
    each at most MAX_WORD characters, in one linear pass."""
    words: dict = {}                       # ordered set
    phrase = meta.get("modelspec.trigger_phrase", "")
    for part in phrase.split(","):
        part = bounded(part.strip(), MAX_WORD)
        if part:
            words.setdefault(part, None)
            if len(words) >= MAX_WORDS:
                return list(words)
    tags = tag_frequencies(meta) if tags is None else tags
    for tag, _ in sorted(tags.items(), key=lambda t: (-t[1], t[0]))[:TOP_TAGS]:
        tag = bounded(tag, MAX_WORD)
        if tag:
            words.setdefault(tag, None)
    return list(words)[:MAX_WORDS]


def title(meta: dict) -> str | None:
    return bounded(meta.get("modelspec.title") or meta.get("ss_output_name") or None)


def training_base(meta: dict) -> str | None:
    """The checkpoint the LoRA was trained on, as the trainer recorded it."""
    return bounded(meta.get("ss_sd_model_name") or meta.get("modelspec.base_model") or None)


def base_model_hint(meta: dict, tags: Counter | None = None) -> tuple[str | None, str | None]:
    """(hint, evidence) for descendants of one architecture that share its tensors."""
    fields = ("ss_sd_model_name", "modelspec.title", "modelspec.tags", "modelspec.description", "ss_output_name")
    for hint, pattern in _BASE_HINTS:
        for name in fields:
            value = meta.get(name, "")[:SEARCHED]
            if value and pattern.search(value):
                return hint, f"{name}={value[:80]}"
    tags = tag_frequencies(meta) if tags is None else tags
    pony = [t for t in _PONY_TAGS if tags.get(t)]
    if pony:
        return "pony", f"training tags {', '.join(pony)}"
    return None, None


def thumbnail(meta: dict) -> tuple[str, bytes] | None:
    """(mime type, image bytes) of `modelspec.thumbnail` (a data: URL), or None."""
    url = meta.get("modelspec.thumbnail", "")
    if not url.startswith("data:") or "," not in url:
        return None
    head, _, payload = url.partition(",")
    mime = head[5:].split(";")[0] or "application/octet-stream"
    if not mime.startswith("image/") or ";base64" not in head:
        return None
    try:
        return mime, base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
