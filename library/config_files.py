"""`config.yaml` beside each organized LoRA, readable slugs, and previews from embedded thumbnails.

A config holds the seed's fields (`name`, `filename`, `default_weight`, `preview_image`, `created`,
`compatible`, `notes`) then what inspection knows. The hidden `_atlas` section records a short hash
of every value the tool wrote; on the next organize a field is refreshed only if it still holds
exactly what the tool wrote. A field a person changed (or that existed before the tool came, as in
a seed tool's config) is never overwritten, and fields the tool does not know are kept as they are.

Defaults read from other tools' sidecars (library/sidecars.py) are generated values too; `_atlas`
then also holds `sources`: field -> the sidecar file its value came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata

import yaml

from ..engine.metadata import MAX_TEXT, thumbnail
from ..engine.safetensors_header import read_header
from .errors import ConfigUnreadable
from .fs_safety import read_bytes
from .identity import autov2

CONFIG_NAME = "config.yaml"
SEED_FIELDS = ("name", "filename", "default_weight", "preview_image", "created", "compatible", "notes")
FACT_FIELDS = ("role", "architecture", "variant", "adapter", "dora", "base_model_hint", "rank", "alpha",
               "text_encoder", "trigger_words", "stable_id", "sha256", "autov2")
ONCE_FIELDS = ("created",)            # set the first time, then left alone
DEFAULT_WEIGHT = 1.0
SLUG_MAX_BYTES = 64
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_MIME_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp", "image/gif": "gif"}
PREVIEW_NAMES = ("preview.png", "preview.jpg", "preview.jpeg", "preview.webp", "preview.gif")

try:
    _Loader, _Dumper = yaml.CSafeLoader, yaml.CSafeDumper
except AttributeError:  # pyyaml without libyaml
    _Loader, _Dumper = yaml.SafeLoader, yaml.SafeDumper


def slugify(stem: str) -> str:
    """A readable folder name: lower case, letters/digits of any script, '-' between words."""
    s = unicodedata.normalize("NFKC", stem).lower()
    s = re.sub(r"[^\w.]+|_+", "-", s)
    s = re.sub(r"-{2,}", "-", s).strip("-. ")
    raw = s.encode("utf-8")[:SLUG_MAX_BYTES]
    s = raw.decode("utf-8", "ignore").strip("-. ")
    if not s:
        return "lora"
    if s.split(".")[0] in _WINDOWS_RESERVED:
        s += "-lora"
    return s


def unique_slug(base: str, taken) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is not in `taken` (case-insensitively)."""
    folded = base.casefold()
    if folded not in taken:
        return base
    n = 2
    while f"{base}-{n}".casefold() in taken:
        n += 1
    return f"{base}-{n}"


def value_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def read_config(path: str):
    """The parsed mapping, None if absent; ConfigUnreadable if it is not valid YAML or not a mapping."""
    try:
        raw = read_bytes(path)
    except OSError as exc:
        raise ConfigUnreadable(f"cannot read it ({exc.strerror or exc})") from None
    if raw is None:
        return None
    try:
        doc = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigUnreadable(f"not valid YAML{where}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigUnreadable("not a YAML mapping of fields")
    return doc


def civitai_fields(config) -> dict:
    """The Civitai link and NSFW level config.yaml holds (imported from other tools' sidecars or
    set by a person), so the panel can link and blur; None where unknown."""
    config = config if isinstance(config, dict) else {}
    url = config.get("civitai_url")
    level, nsfw = config.get("nsfw_level"), config.get("nsfw")
    return {"civitai_url": url if isinstance(url, str) and url.startswith("https://civitai.com/") else None,
            "nsfw_level": level if isinstance(level, int) and not isinstance(level, bool) else None,
            "nsfw": nsfw if isinstance(nsfw, bool) else None}


MAX_LISTED_TAGS = 64


def config_tags(config) -> list:
    """The tags a person (or an imported sidecar) set in config.yaml: strings only, at most
    MAX_LISTED_TAGS, each at most MAX_TEXT characters (a hand-edited file may hold anything)."""
    tags = config.get("tags") if isinstance(config, dict) else None
    if not isinstance(tags, list):
        return []
    return [t[:MAX_TEXT] for t in tags if isinstance(t, str) and t][:MAX_LISTED_TAGS]


def listing_fields(config) -> dict:
    """What the listing shows from config.yaml: the Civitai link, NSFW level and the tags."""
    return {**civitai_fields(config), "tags": config_tags(config)}


_LISTING_KEYS = (b"civitai_url", b"nsfw", b"tags:")


def listing_fields_of_config(path: str) -> dict:
    """listing_fields of the config.yaml at `path` (already confined to its root by the caller): a
    file naming none of those fields is not parsed (most are not), an unreadable one gives the
    empty fields (the detail route reports what is wrong with it)."""
    try:
        raw = read_bytes(path)
        if raw is None or not any(k in raw for k in _LISTING_KEYS):
            return listing_fields(None)
        doc = yaml.load(raw, Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return listing_fields(None)
    return listing_fields(doc)


def generated_fields(inspection: dict | None, *, filename: str, role, lora_id: str, sha256, preview, now: str,
                     imported: dict | None = None) -> dict:
    """What the tool knows about one LoRA, in config order; `imported` (sidecar defaults) replaces
    the tool's own default of a field or adds the field after the others."""
    insp = inspection or {}
    stem = os.path.splitext(filename)[0]
    out = {
        "name": insp.get("title") or stem,
        "filename": filename,
        "default_weight": DEFAULT_WEIGHT,
        "preview_image": preview,
        "created": now,
        "compatible": True,
        "notes": "",
        "role": role,
        "architecture": insp.get("architecture"),
        "variant": insp.get("variant"),
        "adapter": insp.get("adapter"),
        "dora": insp.get("dora"),
        "base_model_hint": insp.get("base_model_hint"),
        "rank": insp.get("rank"),
        "alpha": insp.get("alpha"),
        "text_encoder": insp.get("text_encoder") or [],
        "trigger_words": insp.get("trigger_words") or [],
        "stable_id": lora_id,
        "sha256": sha256,
        "autov2": autov2(sha256),
    }
    for key, value in (imported or {}).items():
        out[key] = value
    return out


def merge(existing: dict | None, generated: dict, now: str, sources: dict | None = None) -> dict:
    """The config to write: generated values where the tool owns the field, the person's elsewhere
    (`sources`: field -> where a generated value came from, kept for the fields written)."""
    existing = dict(existing or {})
    atlas = existing.pop("_atlas", None)
    owned = dict(atlas.get("generated") or {}) if isinstance(atlas, dict) else {}
    organized_at = atlas.get("organized_at") if isinstance(atlas, dict) else None
    out, hashes = {}, {}
    for key, value in generated.items():
        if key not in existing:
            out[key] = value
            hashes[key] = value_hash(value)
        elif key in ONCE_FIELDS or owned.get(key) != value_hash(existing[key]):
            out[key] = existing[key]                         # a person's value (or set once): kept
        else:
            out[key] = value
            hashes[key] = value_hash(value)
    for key, value in existing.items():                      # fields the tool does not know
        if key not in out:
            out[key] = value
    out["_atlas"] = {"generated": hashes, "organized_at": organized_at or existing.get("created") or now, "version": 1}
    kept = {k: v for k, v in (sources or {}).items() if k in hashes}
    if kept:
        out["_atlas"]["sources"] = kept
    return out


def render(config: dict) -> bytes:
    head = "# LoRA Atlas: edit freely; fields you change are never overwritten by organize.\n"
    return head.encode() + yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                                     default_flow_style=False, width=100).encode("utf-8")


def facts_hash(generated: dict, sources: dict | None = None) -> str:
    facts = {k: v for k, v in generated.items() if k not in ONCE_FIELDS}
    if sources:
        facts["_sources"] = sources
    return value_hash(facts)


def existing_preview(folder: str, stem: str, names=None) -> str | None:
    """The preview a folder already has (ours, ComfyUI's `<stem>.preview.*`, or `<stem>.png`)."""
    names = set(os.listdir(folder)) if names is None else set(names)
    for candidate in PREVIEW_NAMES + tuple(f"{stem}.preview.{e}" for e in ("png", "jpg", "jpeg", "webp", "gif")) \
            + tuple(f"{stem}.{e}" for e in ("png", "jpg", "jpeg", "webp")):
        if candidate in names:
            return candidate
    return None


def embedded_preview(path: str):
    """(extension, bytes) of the file's `modelspec.thumbnail`, or None."""
    try:
        found = thumbnail(read_header(path).metadata)
    except Exception:  # noqa: BLE001 - a header that cannot be read simply has no thumbnail
        return None
    if not found:
        return None
    mime, data = found
    ext = _MIME_EXT.get(mime)
    return (ext, data) if ext and data else None


def fits_name(name: str) -> bool:
    """Whether a file name fits common file systems (255 bytes)."""
    return len(name.encode("utf-8")) <= 255
