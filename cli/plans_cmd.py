"""`plans`, `profiles` and `export-blocks`: saved plans, history, templates, block-override profiles
and exports, kept in a library's store (library/saved_plans.py, plan_templates.py, profiles.py, block_table.py).

Each subcommand opens the store of the library (--root, else the nearest folder holding
.lora-atlas/ above the current one), calls one library function and prints. Exit codes: 0 done,
1 a saved plan's files moved away for good or changed (said on stderr), 2 could not run (unknown
name, bad input, no library).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..library import block_table, plan_exports, plan_templates, saved_plans
from ..library import profiles as profile_docs
from ..library.errors import InvalidDocument, LibraryError
from ..library.fs_safety import atomic_write
from ..library.profiles import parse_multipliers
from ..library.operations import reader_store
from ..library.roles import find_root
from ..library.store import Store
from ..library.plan_exports import plan_text as render
from .output import print_json, table

_RAW = argparse.RawDescriptionHelpFormatter

PLANS_HELP = """Saved plans, the history of computed plans, and plan templates of a library.

  list                      saved plans (name, policy, architecture, LoRAs)
  show NAME|ID              a saved plan as it was computed (nothing recomputed); files that moved
                            are found by their stable id and shown at their new path, files that
                            vanished or changed are named (exit 1)
  export NAME|ID            the plan as JSON (the whole document), CSV (one row per LoRA per
                            vector position: lora, position, ratio, strength_model, strength_clip,
                            block_vector), text, inspire (one line per LoRA) or a1111 (prompt
                            tags); deterministic, no timestamps; the same as the HTTP export
  history [--id N]          the last plans computed in this library (kept: the last 200)
  delete NAME|ID            forget a saved plan
  templates list|show|set|delete   reusable policy + headroom + role order + per-role profiles

Save a plan with 'lora-atlas plan ... --save NAME'; plan it again with 'lora-atlas plan --from-plan NAME'.

Example:
  lora-atlas plan loras/styles/ink.safetensors:0.8 loras/characters/anna.safetensors --save duo
  lora-atlas plans list --root loras
  lora-atlas plans export duo --format csv --out duo.csv --root loras"""

TEMPLATES_HELP = """Templates: a policy, headroom, role order and per-role profiles, reused by name with
'lora-atlas plan ... --template NAME' (options given to plan win over the template).

--profile ROLE:BLOCK=V,... gives every LoRA of that role those multipliers; ROLE:NAME a saved profile.

Example:
  lora-atlas plans templates set portrait --policy role-priority --headroom 0.3 --profile styles:OUT=0.6
  lora-atlas plan a.safetensors b.safetensors --template portrait"""

PROFILES_HELP = """Block-override profiles: per-block multipliers applied on top of a plan's ratios, keyed by
block name, a label (OUT3, DOUBLE7, BASE) or a group (IN, MID, OUT, DOUBLE, SINGLE; an exact label wins
over its group), so one profile fits files with different positions. Blocks a file does not have are
reported by the planner and ignored. Use one with 'lora-atlas plan ... --profile N:NAME'.

  list | show NAME | set NAME BLOCK=X,... | delete NAME

Example:
  lora-atlas profiles set soft-out OUT=0.5,IN4=0 --root loras
  lora-atlas plan loras/styles/ink.safetensors loras/characters/anna.safetensors --profile 1:soft-out"""

EXPORT_BLOCKS_HELP = """The library's per-LoRA block table: one row per LoRA file per Inspire block (and per
text encoder) with energy, share, spectral norm, effective rank and module count, from the store's
cached analyses; missing ones are computed once and kept. Sorted by path, blocks in vector order.

Example:
  lora-atlas export-blocks ~/ComfyUI/models/loras --format csv --out blocks.csv"""


def register(sub) -> None:
    p = sub.add_parser("plans", help="saved plans, plan history and templates", description=PLANS_HELP,
                       formatter_class=_RAW)
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _sub(acts, "list", _plans_list, "saved plans")
    _sub(acts, "show", _plans_show, "a saved plan", name="NAME|ID")
    x = _sub(acts, "export", _plans_export, "export a saved plan", name="NAME|ID")
    x.add_argument("--format", default="json", choices=plan_exports.FORMATS)
    x.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    h = _sub(acts, "history", _plans_history, "recently computed plans")
    h.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 200)")
    h.add_argument("--id", type=int, help="show this history entry's plan")
    _sub(acts, "delete", _plans_delete, "forget a saved plan", name="NAME|ID")
    t = acts.add_parser("templates", help="reusable plan options", description=TEMPLATES_HELP, formatter_class=_RAW)
    tacts = t.add_subparsers(dest="taction", metavar="ACTION", required=True)
    _sub(tacts, "list", _templates_list, "templates")
    _sub(tacts, "show", _templates_show, "one template", name="NAME")
    s = _sub(tacts, "set", _templates_set, "create or replace a template", name="NAME")
    s.add_argument("--policy")
    s.add_argument("--headroom", type=float)
    s.add_argument("--roles", metavar="ROLE,...", help="role priority, highest first")
    s.add_argument("--profile", action="append", default=[], metavar="ROLE:BLOCK=V,...|ROLE:NAME")
    _sub(tacts, "delete", _templates_delete, "forget a template", name="NAME")

    p = sub.add_parser("profiles", help="block-override profiles (per-block multipliers)", description=PROFILES_HELP,
                       formatter_class=_RAW)
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _sub(acts, "list", _profiles_list, "profiles")
    _sub(acts, "show", _profiles_show, "one profile", name="NAME")
    s = _sub(acts, "set", _profiles_set, "create or replace a profile", name="NAME")
    s.add_argument("blocks", metavar="BLOCK=X,...")
    _sub(acts, "delete", _profiles_delete, "forget a profile", name="NAME")

    p = sub.add_parser("export-blocks", help="the library's per-LoRA block table as CSV or JSON",
                       description=EXPORT_BLOCKS_HELP, formatter_class=_RAW)
    p.add_argument("dir", metavar="DIR", help="the LoRA root folder")
    p.add_argument("--format", default="csv", choices=block_table.FORMATS)
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(run=_export_blocks)


def _sub(acts, action, fn, short, name=None):
    p = acts.add_parser(action, help=short, description=f"{short[0].upper()}{short[1:]}.")
    if name:
        p.add_argument("name", metavar=name)
    p.add_argument("--root", metavar="DIR", help="the LoRA root (default: the library above this folder)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=lambda args: _call(args, fn))
    return p


def _call(args, fn) -> int:
    """Open the library's store, run `fn(args, store, root)`; LibraryError -> exit 2."""
    root = args.root or find_root(os.path.join(os.getcwd(), "-"))
    try:
        if root is None:
            raise LibraryError("no library here: give --root DIR (a LoRA root; its store is DIR/.lora-atlas/)")
        if not os.path.isdir(root):
            raise LibraryError(f"--root '{root}' is not a folder")
        if fn in _READERS:
            with reader_store(root) as (store, _):
                return fn(args, store, root)
        with Store.open(root) as store:
            return fn(args, store, root)
    except LibraryError as exc:
        print(f"lora-atlas {args.command} {args.action}: {exc}", file=sys.stderr)
        return 2


def _emit(args, text: str) -> None:
    """`text` to --out (temporary file + rename) or stdout."""
    if getattr(args, "out", None):
        atomic_write(args.out, text.encode())
    else:
        sys.stdout.buffer.write(text.encode())
        sys.stdout.flush()


# -- plans ------------------------------------------------------------------------------------


def _listing(args, items, empty: str, headers, row) -> int:
    """A list as JSON, or a table with one `row(item)` each, or `empty` when there is none."""
    if args.json:
        print_json(items)
    else:
        print(table([row(it) for it in items], headers) if items else empty)
    return 0


def _plans_list(args, store, root) -> int:
    return _listing(args, saved_plans.list_plans(store), "no saved plans ('lora-atlas plan ... --save NAME' keeps one)",
                    ["id", "name", "policy", "architecture", "LoRAs", "created"],
                    lambda p: [p["id"], p["name"], p["policy"], p["architecture"], len(p["loras"]), p["created_at"]])


def _load(args, store, root):
    saved = saved_plans.load_saved(store, args.name, root)
    for problem in saved.problems:
        print(f"lora-atlas plans: {problem}", file=sys.stderr)
    bad = saved.missing or any("changed since" in p for p in saved.problems)
    return saved, 1 if bad else 0


def _plans_show(args, store, root) -> int:
    saved, code = _load(args, store, root)
    if args.json:
        _emit(args, saved.text if not saved.moved else plan_exports.canonical_json(saved.plan).decode())
    else:
        print(f"saved plan {saved.name!r} (id {saved.id}, {saved.created_at})\n{render(saved.plan)}")
    return code


def _plans_export(args, store, root) -> int:
    saved, code = _load(args, store, root)
    _emit(args, plan_exports.export_plan(saved.plan, args.format))
    return code


def _plans_history(args, store, root) -> int:
    if args.id is not None:
        entry = saved_plans.history_entry(store, args.id)
        if args.json:
            _emit(args, entry["text"])
        else:
            print(f"history entry {entry['id']} ({entry['created_at']})\n{render(entry['plan'])}")
        return 0
    return _listing(args, saved_plans.plan_history(store, args.limit), "no plans computed in this library yet",
                    ["id", "created", "policy", "architecture", "LoRAs", "saved as"],
                    lambda h: [h["id"], h["created_at"], h["policy"], h["architecture"],
                               ", ".join(map(os.path.basename, h["loras"])), "" if h["plan_id"] is None else h["plan_id"]])


def _plans_delete(args, store, root) -> int:
    saved_plans.delete_plan(store, args.name)
    print(f"deleted plan {args.name!r}")
    return 0


# -- templates --------------------------------------------------------------------------------


def _templates_list(args, store, root) -> int:
    return _listing(args, plan_templates.list_templates(store), "no templates ('lora-atlas plans templates set NAME ...' makes one)",
                    ["name", "policy", "headroom", "role order", "profiles"],
                    lambda t: [t["name"], t["policy"], f"{t['headroom']:g}", ",".join(t["role_order"]),
                               ", ".join(f"{r}:{v if isinstance(v, str) else _mults(v)}" for r, v in t["profiles"].items())])


def _templates_show(args, store, root) -> int:
    print_json({"name": args.name, **plan_templates.load_template(store, args.name)})
    return 0


def _templates_set(args, store, root) -> int:
    profiles, problems = {}, []
    for item in args.profile:
        role, sep, rest = item.partition(":")
        if not sep or not role or not rest:
            problems.append(f"--profile {item!r}: expected ROLE:BLOCK=V,... or ROLE:NAME")
        elif "=" in rest:
            try:
                profiles[role] = parse_multipliers(rest, f"--profile {role}")
            except LibraryError as exc:
                problems += exc.problems
        else:
            profile_docs.load_profile(store, rest)           # NotFound names the known ones
            profiles[role] = rest
    if problems:
        raise InvalidDocument(problems)
    doc = {"policy": args.policy, "headroom": args.headroom, "profiles": profiles,
           "role_order": [r.strip() for r in args.roles.split(",") if r.strip()] if args.roles else None}
    saved = plan_templates.save_template(store, args.name, doc)
    if args.json:
        print_json(saved)
    else:
        print(f"template {saved['name']!r}: policy {saved['policy']}, headroom {saved['headroom']:g}, "
              f"roles {','.join(saved['role_order'])}")
    return 0


def _templates_delete(args, store, root) -> int:
    plan_templates.delete_template(store, args.name)
    print(f"deleted template {args.name!r}")
    return 0


# -- profiles ---------------------------------------------------------------------------------


def _mults(m: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in m.items())


def _profiles_list(args, store, root) -> int:
    return _listing(args, profile_docs.list_profiles(store), "no profiles ('lora-atlas profiles set NAME OUT=0.5' makes one)",
                    ["name", "multipliers"], lambda p: [p["name"], _mults(p["multipliers"])])


def _profiles_show(args, store, root) -> int:
    mults = profile_docs.load_profile(store, args.name)
    print_json({"name": args.name, "multipliers": mults}) if args.json else print(f"{args.name}: {_mults(mults)}")
    return 0


def _profiles_set(args, store, root) -> int:
    saved = profile_docs.save_profile(store, args.name, parse_multipliers(args.blocks))
    print_json(saved) if args.json else print(f"profile {saved['name']!r}: {_mults(saved['multipliers'])}")
    return 0


def _profiles_delete(args, store, root) -> int:
    profile_docs.delete_profile(store, args.name)
    print(f"deleted profile {args.name!r}")
    return 0


_READERS = (_plans_list, _plans_show, _plans_export, _plans_history, _templates_list, _templates_show,
            _profiles_list, _profiles_show)


# -- export-blocks ----------------------------------------------------------------------------


def _export_blocks(args) -> int:
    try:
        if not os.path.isdir(args.dir):
            raise LibraryError(f"'{args.dir}' is not a folder")
        with reader_store(args.dir, create=True) as (store, _):
            rows = block_table.block_table(store, args.dir)
    except LibraryError as exc:
        print(f"lora-atlas export-blocks: {exc}", file=sys.stderr)
        return 2
    _emit(args, block_table.export_block_table(rows, args.format))
    return 0
