"""Metadata other tools already wrote beside a LoRA, read into facts with their source.

    tool                  file                       read
    ComfyUI-Lora-Manager  <stem>.metadata.json       civitai.trainedWords, usage_tips.strength, base_model,
                                                     notes, tags, civitai.modelId/id, preview_nsfw_level
    A1111 / Forge         <stem>.json                activation text, preferred weight, sd version, notes
    Civitai Helper        <stem>.civitai.info        trainedWords, baseModel, modelId, id, model.tags/nsfw
    rgthree               <stem>.rgthree-info.json   trainedWords[].word, baseModel, userNote, raw.civitai

Every reader is defensive: unknown or missing keys are fine, a file is read up to MAX_BYTES, and a
sidecar that is not what its name says is a problem in the result, never an exception. Sources are
listed in priority order (a person's own tool first, Civitai's copy last); when two disagree the
first wins and the disagreement is reported. Trigger words from a sidecar (curated by a person or
Civitai) replace those guessed from the header's training tags. The tensors win on what they can tell: a sidecar's
base model only becomes `base_model_hint` for descendants of one architecture (SDXL: Pony,
Illustrious, ...), and one naming another architecture is reported.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field

from ..engine.architecture import FAMILY
from . import index_files
from .config_files import CONFIG_NAME
from .fs_safety import open_regular
from .scan import is_lora_name

MAX_BYTES = 1 << 20
MAX_WORDS = 200
MAX_TEXT = 20_000
# (suffix after "<stem>.", tool), in priority order
FORMATS = (("metadata.json", "ComfyUI-Lora-Manager"), ("json", "A1111/Forge"),
           ("rgthree-info.json", "rgthree"), ("civitai.info", "Civitai Helper"))
STILL_PREVIEWS = tuple(f"preview.{e}" for e in ("png", "jpg", "jpeg", "webp", "gif")) + ("png", "jpg", "jpeg", "webp")
VIDEO_PREVIEWS = ("preview.mp4", "preview.webm", "mp4", "webm")
# config.yaml fields the sidecars may fill, in config order
FIELDS = ("default_weight", "notes", "base_model_hint", "trigger_words", "tags", "civitai_model_id",
          "civitai_version_id", "civitai_url", "nsfw_level", "nsfw", "preview_video")
CIVITAI_URL = "https://civitai.com/models/{model}?modelVersionId={version}"


@dataclass
class Fact:
    field: str
    value: object
    source: str            # the sidecar's file name

    def to_dict(self) -> dict:
        return {"field": self.field, "value": self.value, "source": self.source}


@dataclass
class Found:
    """What the sidecars of one LoRA say: every fact (all sources), the files read, the problems."""
    facts: list = field(default_factory=list)
    files: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    base_models: list = field(default_factory=list)     # (architecture or None, hint or None, raw, source)

    def to_dict(self) -> dict:
        return {"files": self.files, "facts": [f.to_dict() for f in self.facts], "problems": self.problems}


# --- reading -----------------------------------------------------------------------------------

def sidecar_names(stem: str, names) -> dict:
    """suffix -> actual file name among `names`, for the known formats and previews of `stem`
    (the exact case first, else the one name that matches case-insensitively)."""
    out = {}
    folded = {}
    for n in names:
        folded.setdefault(n.casefold(), []).append(n)
    for suffix in [s for s, _ in FORMATS] + list(STILL_PREVIEWS + VIDEO_PREVIEWS):
        exact = f"{stem}.{suffix}"
        if exact in names:
            out[suffix] = exact
        elif len(folded.get(exact.casefold(), ())) == 1:
            out[suffix] = folded[exact.casefold()][0]
    return out


def read_sidecars(folder: str, stem: str, names=None) -> Found:
    """The facts of the sidecars of `<folder>/<stem>.*` (`names`: the folder's file names)."""
    names = set(os.listdir(folder)) if names is None else set(names)
    found = Found()
    present = sidecar_names(stem, names)
    for suffix, _tool in FORMATS:
        name = present.get(suffix)
        if name is None:
            continue
        doc = _load(os.path.join(folder, name), name, found)
        if doc is None:
            continue
        found.files.append(name)
        READERS[suffix](doc, name, found)
    video = next((present[s] for s in VIDEO_PREVIEWS if s in present), None)
    if video:
        found.facts.append(Fact("preview_video", video, video))
    return found


def _load(path: str, name: str, found: Found):
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        found.problems.append(f"{name}: cannot read it ({exc.strerror or exc})")
        return None
    if len(raw) > MAX_BYTES:
        found.problems.append(f"{name}: larger than {MAX_BYTES // 1024} KiB; not read")
        return None
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        found.problems.append(f"{name}: not valid JSON ({str(exc)[:80]}); ignored")
        return None
    if not isinstance(doc, dict):
        found.problems.append(f"{name}: not a JSON object; ignored")
        return None
    return doc


def _text(value) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_TEXT]
    return None


def _words(value) -> list:
    """Trigger words from a list of strings, a list of {"word": ...} or a comma-separated text."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    out = []
    for v in value[:MAX_WORDS]:
        if isinstance(v, dict):
            v = v.get("word")
        if isinstance(v, str):
            for part in v.split(","):
                part = part.strip()[:200]
                if part and part not in out:
                    out.append(part)
    return out


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and -100 < value < 100:
        return round(float(value), 4)
    return None


def _int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _add(found: Found, name: str, key: str, value) -> None:
    if value is not None and value != [] and value != "":
        found.facts.append(Fact(key, value, name))


def _civitai(doc, name: str, found: Found) -> None:
    """A Civitai model-version object (Civitai Helper's file, LoRA Manager's and rgthree's copy)."""
    if not isinstance(doc, dict):
        return
    _add(found, name, "trigger_words", _words(doc.get("trainedWords")))
    _base_model(found, name, doc.get("baseModel"))
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    _add(found, name, "tags", _words(model.get("tags")))
    _ids(found, name, _int(doc.get("modelId")), _int(doc.get("id")))
    if isinstance(model.get("nsfw"), bool):
        _add(found, name, "nsfw", model["nsfw"])


def _ids(found: Found, name: str, model_id, version_id) -> None:
    _add(found, name, "civitai_model_id", model_id)
    _add(found, name, "civitai_version_id", version_id)
    if model_id is not None:
        url = f"https://civitai.com/models/{model_id}"
        _add(found, name, "civitai_url", CIVITAI_URL.format(model=model_id, version=version_id)
             if version_id is not None else url)


def _lora_manager(doc: dict, name: str, found: Found) -> None:
    civ = doc.get("civitai") if isinstance(doc.get("civitai"), dict) else {}
    _add(found, name, "trigger_words", _words(civ.get("trainedWords")))
    tips = doc.get("usage_tips")
    if isinstance(tips, str):
        try:
            tips = json.loads(tips[:MAX_TEXT])
        except ValueError:
            tips = None
    if isinstance(tips, dict):
        _add(found, name, "default_weight", _number(tips.get("strength")))
    _base_model(found, name, doc.get("base_model") or civ.get("baseModel"))
    _add(found, name, "notes", _text(doc.get("notes")))
    model = civ.get("model") if isinstance(civ.get("model"), dict) else {}
    _add(found, name, "tags", _words(doc.get("tags")) or _words(model.get("tags")))
    _ids(found, name, _int(civ.get("modelId")), _int(civ.get("id")))
    _add(found, name, "nsfw_level", _int(doc.get("preview_nsfw_level")))
    if isinstance(model.get("nsfw"), bool):
        _add(found, name, "nsfw", model["nsfw"])


def _a1111(doc: dict, name: str, found: Found) -> None:
    known = {"description", "sd version", "activation text", "preferred weight", "negative text", "notes"}
    if not known & set(doc):
        return                                   # some other tool's <stem>.json: not ours to read
    _add(found, name, "trigger_words", _words(doc.get("activation text")))
    weight = _number(doc.get("preferred weight"))
    _add(found, name, "default_weight", weight or None)        # 0 is A1111's "not set"
    sd = doc.get("sd version")
    if isinstance(sd, str) and sd.strip().lower() not in ("", "unknown"):
        _base_model(found, name, sd)
    _add(found, name, "notes", _text(doc.get("notes")))


def _rgthree(doc: dict, name: str, found: Found) -> None:
    _add(found, name, "trigger_words", _words(doc.get("trainedWords")))
    _base_model(found, name, doc.get("baseModel"))
    _add(found, name, "notes", _text(doc.get("userNote")))
    raw = doc.get("raw") if isinstance(doc.get("raw"), dict) else {}
    civ = raw.get("civitai")
    if isinstance(civ, dict):
        _ids(found, name, _int(civ.get("modelId")), _int(civ.get("id")))
        model = civ.get("model") if isinstance(civ.get("model"), dict) else {}
        _add(found, name, "tags", _words(model.get("tags")))
        if isinstance(model.get("nsfw"), bool):
            _add(found, name, "nsfw", model["nsfw"])


READERS = {"metadata.json": _lora_manager, "json": _a1111, "rgthree-info.json": _rgthree,
           "civitai.info": _civitai}

# Civitai's and A1111's base-model names -> (architecture, descendant hint), most specific first.
_BASES = (("noob", "sdxl", "noobai"), ("illustrious", "sdxl", "illustrious"), ("pony", "sdxl", "pony"),
          ("animagine", "sdxl", "animagine"), ("anima", "anima", None), ("sdxl", "sdxl", None), ("sd 1", "sd1", None),
          ("sd1", "sd1", None),
          ("sd 2", "sd2", None), ("sd2", "sd2", None), ("sd 3", "sd3", None), ("sd3", "sd3", None),
          ("flux.2", "flux2", None), ("flux 2", "flux2", None), ("chroma radiance", "chroma_radiance", None),
          ("zimage", "z_image", None), ("z-image", "z_image", None), ("z image", "z_image", None),
          ("hunyuan video 1.5", "hunyuan_video15", None), ("hunyuanvideo 1.5", "hunyuan_video15", None),
          ("hunyuan image", "hunyuan_image", None), ("hunyuanimage", "hunyuan_image", None),
          ("ltx-2", "ltx2", None), ("ltx 2", "ltx2", None), ("ltxv2", "ltx2", None),
          ("flux", "flux", None), ("chroma", "chroma", None), ("wan", "wan", None), ("hunyuan", "hunyuan_video", None),
          ("qwen", "qwen_image", None), ("hidream", "hidream", None), ("lumina", "lumina2", None), ("ltx", "ltxv", None),
          ("kandinsky", "kandinsky5", None), ("krea 2", "krea2", None), ("krea2", "krea2", None),
          ("ernie", "ernie_image", None), ("omnigen", "omnigen2", None))


def _base_model(found: Found, name: str, value) -> None:
    text = _text(value)
    if text is None:
        return
    low = text.lower()
    for needle, arch, hint in _BASES:
        if needle in low:
            found.base_models.append((arch, hint, text[:80], name))
            return
    found.base_models.append((None, None, text[:80], name))


# --- facts to config defaults ------------------------------------------------------------------

def defaults(found: Found, inspection: dict | None) -> tuple:
    """(field -> value, field -> source, problems): the config.yaml defaults the sidecars give,
    first source winning, disagreements and what the tensors contradict reported."""
    values, sources, problems = {}, {}, []
    for fact in found.facts:
        if fact.field not in values:
            values[fact.field], sources[fact.field] = fact.value, fact.source
        elif _norm(values[fact.field]) != _norm(fact.value):
            problems.append(f"{fact.field}: {sources[fact.field]} says {show(values[fact.field])}, "
                            f"{fact.source} says {show(fact.value)}; {sources[fact.field]} is used")
    insp = inspection or {}
    arch, tensor_hint = insp.get("architecture"), insp.get("base_model_hint")
    for b_arch, hint, raw, source in found.base_models:
        if b_arch is None:
            continue
        if arch and arch != "unknown" and FAMILY.get(b_arch, b_arch) != FAMILY.get(arch, arch):
            problems.append(f"base model: {source} says '{raw}' but the tensors are {arch}; the tensors win")
        elif hint and arch == "sdxl":
            if tensor_hint and tensor_hint != hint:
                problems.append(f"base model: {source} says '{raw}' but the file's own metadata says "
                                f"{tensor_hint}; {tensor_hint} is kept")
            elif "base_model_hint" not in values and not tensor_hint:
                values["base_model_hint"], sources["base_model_hint"] = hint, source
            elif values.get("base_model_hint") not in (None, hint):
                problems.append(f"base_model_hint: {sources['base_model_hint']} says {values['base_model_hint']}, "
                                f"{source} says {hint}; {sources['base_model_hint']} is used")
    return values, sources, problems


def _norm(value):
    if isinstance(value, list):
        return sorted({str(v).casefold() for v in value})
    if isinstance(value, str):
        return value.strip().casefold()
    return value


def show(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def sidecar_files(root: str, folder: str, stem: str, listings: dict) -> list:
    """Files beside a LoRA that belong to it: every `<stem>.<anything>` that is neither a LoRA nor
    a folder, and the same with the stem in another case when exactly one LoRA there matches it
    case-insensitively; none when another LoRA there has the same stem. A name that also starts
    with a longer LoRA stem (`a.b.png` beside `a` and `a.b`) belongs to that one."""
    if folder not in listings:
        path = os.path.join(root, folder) if folder else root
        try:
            names = sorted(os.listdir(path))
        except OSError:
            names = []
        listings[folder] = [(n, _is_folder(os.path.join(path, n))) for n in names]
    entries = listings[folder]
    stems = [os.path.splitext(n)[0] for n, _ in entries if is_lora_name(n)]
    if stems.count(stem) != 1:
        return []
    folded = stem.casefold()
    any_case = sum(1 for s in stems if s.casefold() == folded) == 1
    longer = [s.casefold() + "." for s in stems if len(s) > len(stem) and s.casefold().startswith(folded + ".")]
    reserved = RESERVED_NAMES if not folder else (CONFIG_NAME,)
    out = []
    for n, is_dir in entries:
        if is_dir or is_lora_name(n) or n in reserved:
            continue
        if not (n.startswith(stem + ".") or any_case and n.casefold().startswith(folded + ".")):
            continue
        if any(n.casefold().startswith(p) for p in longer):
            continue
        out.append(n)
    return out


RESERVED_NAMES = (CONFIG_NAME, index_files.INDEX_NAME, index_files.PREVIEW_CONFIG_NAME)


def _is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return True                                    # cannot tell: leave it where it is
