"""Block-override profiles kept in the store: a name -> per-block multipliers.

A profile is keyed by block *name*, an Inspire label (`OUT3`, `DOUBLE7`, `BASE`) or a whole group
(`OUT`, `DOUBLE`, ...), never by vector position, so one profile means the same thing on files
with different positions (a partial Flux LoRA, an SDXL LoCon with 21 positions). The planner
multiplies its ratios by them after the policy, an exact label winning over its group, and warns
about labels a file does not have (engine/planner.py). Stored as `{"BLOCK": multiplier}` JSON in
the `profiles` table, sorted keys.

    save_profile(store, "soft-out", {"OUT": 0.5, "IN4": 0})
    load_profile(store, "soft-out")        -> {"IN4": 0.0, "OUT": 0.5}    NotFound if missing
    list_profiles(store)                   -> [{"name", "multipliers", "updated_at"}, ...]
    delete_profile(store, "soft-out")
    parse_multipliers("OUT=0.5,IN4=0")     -> {"IN4": 0.0, "OUT": 0.5}    InvalidDocument if bad
"""

from __future__ import annotations

import re

from ..engine.planner import PROFILE_GROUPS, STRENGTH_LIMIT, check_number
from .errors import InvalidDocument
from .named_documents import NamedDocuments

MAX_NAME = 100
MAX_BLOCKS = 128
_BLOCK = re.compile(r"^(%s)(\d+)?$" % "|".join(PROFILE_GROUPS))


def check_name(name, what: str) -> str:
    """A stripped name, or InvalidDocument saying what a name may be."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or \
            any(ord(ch) < 32 for ch in name) or name.strip().isdigit():
        raise InvalidDocument([f"{what} name {name!r}: expected 1 to {MAX_NAME} printable characters, "
                               "not only digits (ids are numbers)"])
    return name.strip()


def check_multipliers(mults, what: str = "profile") -> dict:
    """{BLOCK: float}, keys upper-cased and sorted; InvalidDocument listing every bad entry."""
    problems = []
    if not isinstance(mults, dict) or not mults:
        raise InvalidDocument([f"{what}: expected BLOCK=MULTIPLIER entries (e.g. OUT=0.5,IN4=0)"])
    if len(mults) > MAX_BLOCKS:
        problems.append(f"{what}: at most {MAX_BLOCKS} blocks")
    out = {}
    for key, value in mults.items():
        block = str(key).strip().upper()
        if not _BLOCK.match(block) or (block.startswith("BASE") and block != "BASE"):
            problems.append(f"{what}: {key!r} is not a block label or group; use BASE, a group "
                            f"({', '.join(PROFILE_GROUPS[1:])}) or a label such as OUT3, DOUBLE7")
            continue
        x, why = check_number(value, f"{what}: {block}", STRENGTH_LIMIT) if not isinstance(value, bool) else \
            (None, f"{what}: {block} must be a number")
        if why:
            problems.append(why)
        elif block in out:
            problems.append(f"{what}: {block} is given twice")
        else:
            out[block] = x
    if problems:
        raise InvalidDocument(problems)
    return dict(sorted(out.items()))


def parse_multipliers(text: str, what: str = "profile") -> dict:
    """`"OUT=0.5,IN4=0"` -> {"IN4": 0.0, "OUT": 0.5}."""
    mults, problems = {}, []
    for item in (text or "").split(","):
        block, sep, value = item.strip().partition("=")
        if not sep or not block.strip() or not value.strip():
            problems.append(f"{what}: item {item.strip()!r}: expected BLOCK=VALUE (e.g. OUT=0.5, IN4=0)")
            continue
        if block.strip().upper() in mults:
            problems.append(f"{what}: {block.strip().upper()} is given twice")
        mults[block.strip().upper()] = value.strip()
    if problems:
        raise InvalidDocument(problems)
    return check_multipliers(mults, what)


_PROFILES = NamedDocuments("profiles", "profile")


def save_profile(store, name: str, multipliers: dict) -> dict:
    """Create or replace a profile; returns {"name", "multipliers"}."""
    name = check_name(name, "profile")
    mults = check_multipliers(multipliers, f"profile {name!r}")
    _PROFILES.save(store, name, mults)
    return {"name": name, "multipliers": mults}


def load_profile(store, name: str) -> dict:
    return _PROFILES.load(store, name)


def list_profiles(store) -> list:
    return [{"name": name, "multipliers": doc, "updated_at": at} for name, doc, at in _PROFILES.rows(store)]


def delete_profile(store, name: str) -> None:
    _PROFILES.delete(store, name)
