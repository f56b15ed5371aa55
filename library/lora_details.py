"""One LoRA as the detail route, the Browser node and the panel show it, read from the store, and
the few `config.yaml` fields a person edits there.

    detail = lora_detail(root, item, paths, want_analysis=True)   # config, classification, analysis, ...
    fields = user_fields(config, item)                            # default_weight, trigger_words
    config = edit_config(root, item, {"notes": "...", "tags": [...]})

`item` is a listing item (library/queries.py) of the LoRA's root. The classification is the
store's (written by the scan), the analysis the store's cache (library/analysis_cache.py); nothing
is re-read from the LoRA file once it is known.
"""

from __future__ import annotations

import dataclasses
import json
import os

from ..engine.inspect import Inspection, inspect_file
from . import config_files as cf
from .config_files import civitai_fields
from .analysis_cache import cached_analysis
from .errors import ConfigConflict, InvalidDocument, OutsideRoots
from .fs_safety import atomic_write
from .lock import library_lock
from .queries import public
from .roots import within_root
from .store import Store

EDITABLE = {"name": str, "notes": str, "default_weight": float, "tags": list, "trigger_words": list}
MAX_TEXT = 10000
MAX_ITEMS = 200
EDIT_WAIT = 5.0                          # seconds a config edit waits for the library lock
_FIELD_ORDER = [f.name for f in dataclasses.fields(Inspection)]


def config_path(root: str, item: dict) -> str:
    return os.path.join(os.path.dirname(os.path.join(root, item["path"])), cf.CONFIG_NAME)


def read_user_config(root: str, item: dict):
    """(config dict or None, problem or None) of the LoRA's config.yaml, without the `_atlas` block.
    A config.yaml that is a link leading outside the root is not read (its content is not ours)."""
    if not item["has_config"]:
        return None, None
    try:
        config = cf.read_config(within_root(root, config_path(root, item)))
    except OutsideRoots:
        return None, "config.yaml: a link leading outside the LoRA root; not read"
    except cf.ConfigUnreadable as exc:
        return None, f"config.yaml: {exc}"
    if isinstance(config, dict):
        config.pop("_atlas", None)
    return config, None


def user_fields(config, item: dict) -> dict:
    """What a person set in config.yaml wins over what the file says: default weight, trigger words."""
    config = config or {}
    weight = config.get("default_weight", 1.0)
    # a hand-edited weight of thousands of digits is no weight (float() would raise OverflowError)
    weight = float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) and \
        -1e6 < weight < 1e6 else 1.0
    return {"default_weight": weight, "trigger_words": config.get("trigger_words") or item.get("trigger_words") or []}


def _classification(store, root: str, item: dict) -> dict:
    row = store.execute("SELECT data FROM classification WHERE lora_id = ?", (item["id"],)).fetchone()
    if row is None:
        data = inspect_file(os.path.join(root, item["path"])).to_dict()
    else:
        data = json.loads(row["data"])
    return {k: data[k] for k in _FIELD_ORDER if k in data and k != "path"}


def lora_analysis(root: str, item: dict) -> dict:
    """engine.analysis of the LoRA, from the store's cache (computed and kept on first use). The
    store is opened without the library's writer lock: reading it and adding one cache row is
    safe beside a running organize (SQLite serializes the writes), and never makes it busy."""
    with Store.open(root) as store:
        return {"path": os.path.join(root, item["path"]), **cached_analysis(store, root, item["id"], item["path"])}


def lora_detail(root: str, item: dict, paths: list, want_analysis: bool = True, preview_url: str | None = None) -> dict:
    """Config, classification, analysis, trigger words and default weight of one LoRA. A LoRA file
    that is a link leading outside its root is refused (OutsideRoots), as a path given to a route is."""
    within_root(root, os.path.join(root, item["path"]))
    config, config_error = read_user_config(root, item)
    with Store.open(root) as store:
        insp = _classification(store, root, item)
    analysis = lora_analysis(root, item) if want_analysis and insp.get("ok") else None
    civitai = civitai_fields(config)    # from the config itself (the listing's copy may be older), in their place
    out = {k: v for k, v in public(item).items() if k not in civitai}
    out.update({
        "paths": paths,
        "config": config, "config_error": config_error,
        "classification": insp,
        **user_fields(config, item),
        **civitai,
        "preview_url": preview_url,
        "analysis": analysis,
    })
    return out


def _unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (JSON's `\\ud800` gives a lone surrogate, which cannot)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check_edit(body) -> dict:
    """The fields of a config edit; InvalidDocument listing every problem (a text that cannot be
    written to config.yaml included, rather than a failure half-way through the write)."""
    if not isinstance(body, dict) or not body:
        raise InvalidDocument([f"expected an object with some of {', '.join(EDITABLE)}"])
    problems = []
    for key, value in body.items():
        kind = EDITABLE.get(key)
        if kind is None:
            problems.append(f"{key!r} cannot be edited here (editable: {', '.join(EDITABLE)})")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -10 <= value <= 10:
                problems.append(f"{key}: expected a number between -10 and 10")
        elif kind is list:
            if not isinstance(value, list) or len(value) > MAX_ITEMS or \
                    not all(isinstance(v, str) and len(v) <= MAX_ITEMS and _unicode(v) for v in value):
                problems.append(f"{key}: expected a list of texts")
        elif not isinstance(value, str) or len(value) > MAX_TEXT:
            problems.append(f"{key}: expected a text of at most {MAX_TEXT} characters")
        elif not _unicode(value):
            problems.append(f"{key}: not valid Unicode (a lone surrogate such as \\ud800)")
    if problems:
        raise InvalidDocument(problems)
    return body


def edit_config(root: str, item: dict, body) -> dict:
    """Change a few user fields of the LoRA's config.yaml (organize keeps them from then on).

    Under the library lock (waiting a few seconds for a scan to end): organize and undo move the
    LoRA's folder while they hold it, so an edit meanwhile would write into a folder that is going
    away (LibraryBusy, 409, instead); a LoRA no longer where `item` says moved before the lock."""
    fields = check_edit(body)
    path = config_path(root, item)
    within_root(root, path)              # a link leading outside: never read and copied into the root
    with library_lock(root, "edit config.yaml", wait=EDIT_WAIT):
        if not os.path.isfile(os.path.join(root, item["path"])):
            raise ConfigConflict(f"{item['path']} has moved (organize or undo ran meanwhile); "
                                 "reload the listing and edit again")
        try:
            config = cf.read_config(path) if item["has_config"] else None
        except cf.ConfigUnreadable as exc:
            raise ConfigConflict(f"config.yaml: {exc}; fix it by hand first") from None
        if config is None:
            raise ConfigConflict("this LoRA has no config.yaml yet: organize the library first")
        config.update(fields)
        atomic_write(path, cf.render(config))
    config.pop("_atlas", None)
    return config
