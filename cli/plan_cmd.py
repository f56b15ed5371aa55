"""`lora-atlas plan FILE[:STRENGTH[:CLIP]]... [--policy P] [--json]`: a multi-LoRA plan."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.plan_stack import plan_files
from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, POLICIES, PlanError
from ..library import plans
from ..library.errors import LibraryError, NotFound
from ..library.operations import reader_store
from ..library.roles import KNOWN_ROLES, find_root, roles_of
from .output import print_json, table

HELP = f"""Plan a stack of LoRAs for Inspire Pack's "LoRA Loader (Block Weight)" (one node per LoRA):
for each LoRA the strength_model, strength_clip and block_vector to paste, plus A1111's lbw=
where a standard layout applies, and a per-block table of energy before and after with reasons.

FILE[:STRENGTH[:CLIP]]  strength_model (default 1) and strength_clip (default = STRENGTH), -10..10.

Policies ({', '.join(POLICIES)}; default {DEFAULT_POLICY}):
  none           vectors of ones, strengths as given
  balanced       per block, the stack's energy cᵀGc (G = the LoRAs' Gram matrix there) is kept within
                 (1 + headroom) × the strongest single LoRA's c²G[i,i]; over budget, every LoRA in
                 the block gets one common factor sqrt(budget / cᵀGc)
  role-priority  like balanced, but roles earlier in --roles keep their weight and later ones share
                 what is left of the budget
The text encoders are budgeted the same way; strength_clip = intended scale / BASE ratio because
Inspire's BASE entry also multiplies text-encoder patches; UNet-only LoRAs get strength_clip 0.

Role = the LoRA's category folder: the first folder under --root, by default the nearest ancestor
holding .lora-atlas/, else the nearest ancestor named {', '.join(KNOWN_ROLES[:4])}, ...

Example:
  lora-atlas plan loras/characters/anna.safetensors:0.9 loras/styles/ink.safetensors:0.8:0.5
  lora-atlas plan a.safetensors b.safetensors --policy role-priority --roles characters,styles --json
  lora-atlas plan a.safetensors b.safetensors --profile 2:OUT=0.5,IN4=0
  lora-atlas plan a.safetensors b.safetensors --profile 2:soft-out --template portrait --save duo
  lora-atlas plan --from-plan duo --policy none

In a library (--root, or a folder above the files holding .lora-atlas/) every plan is kept in the
history ('lora-atlas plans history') and the measured figures are cached in the store, so the next
plan of the same files, in any process, is warm; a file that changed since is recomputed.
--save NAME keeps the plan and its inputs; --from-plan NAME plans a saved plan's LoRAs again (moved
files are found by their stable id); --template NAME takes policy, headroom, role order and per-role
profiles from a template ('lora-atlas plans templates'); options you give win over both."""


def register(sub) -> None:
    p = sub.add_parser("plan", help="a multi-LoRA block-weight plan", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("loras", nargs="*", metavar="FILE[:STRENGTH[:CLIP]]")
    p.add_argument("--policy", help=f"one of {', '.join(POLICIES)} (default {DEFAULT_POLICY})")
    p.add_argument("--headroom", help=f"budget above the strongest single LoRA, 0..10 (default {DEFAULT_HEADROOM})")
    p.add_argument("--roles", help=f"role priority, highest first (default {','.join(DEFAULT_ROLE_ORDER)})")
    p.add_argument("--root", help="the LoRA root whose first-level folders are the roles")
    p.add_argument("--role", action="append", default=[], metavar="N=ROLE",
                   help="give the N-th LoRA (1-based) this role, whatever its folder")
    p.add_argument("--profile", action="append", default=[], metavar="N:BLOCK=V,...|N:NAME",
                   help="multiply the N-th LoRA's ratios per block label (OUT3) or group (OUT), after the policy; "
                        "N:NAME uses a saved profile ('lora-atlas profiles')")
    p.add_argument("--save", metavar="NAME", help="keep this plan and its inputs in the library under NAME")
    p.add_argument("--template", metavar="NAME", help="policy, headroom, role order and profiles from a saved template")
    p.add_argument("--from-plan", metavar="NAME", help="plan the LoRAs of a saved plan again (then the FILEs given)")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    p.set_defaults(run=run)


def parse_spec(text: str):
    """FILE[:STRENGTH[:CLIP]] -> (path, strength text or None, clip text or None). A FILE that
    exists as given wins, so paths containing ':' still work."""
    if os.path.exists(text) or ":" not in text:
        return text, None, None
    head, _, last = text.rpartition(":")
    if os.path.exists(head) or ":" not in head:
        return head, last, None
    path, _, strength = head.rpartition(":")
    return path, strength, last


def _indexed(values, what, n, problems):
    """{index: text} from N=... / N:... options."""
    out = {}
    for value in values:
        sep = "=" if what == "--role" else ":"
        head, _, rest = value.partition(sep)
        try:
            index = int(head)
        except ValueError:
            index = 0
        if not 1 <= index <= n or not rest:
            problems.append(f"{what} {value!r}: expected N{sep}... with N between 1 and {n}")
            continue
        out[index - 1] = rest
    return out


def _profile(text, problems):
    mults = {}
    for item in text.split(","):
        block, _, value = item.strip().partition("=")
        if not block or not value:
            problems.append(f"--profile item {item!r}: expected BLOCK=VALUE (e.g. OUT=0.5, IN4=0)")
            continue
        mults[block.strip().upper()] = value.strip()
    return mults


def build_request(args, store=None, root=None):
    """(specs, options) from parsed arguments, or raise PlanError listing every problem. With a
    library `store`: --from-plan, --template and saved profiles (N:NAME) are read from it."""
    problems = []
    specs, roles, profiles = [], {}, {}
    options = dict(policy=DEFAULT_POLICY, headroom=DEFAULT_HEADROOM, role_order=DEFAULT_ROLE_ORDER)
    if args.from_plan:
        _from_plan(args, store, root, specs, roles, profiles, options, problems)
    specs += [parse_spec(s) for s in args.loras]
    explicit = {k for k, v in (("policy", args.policy), ("headroom", args.headroom), ("role_order", args.roles)) if v}
    if args.policy:
        options["policy"] = args.policy
    if args.headroom:
        try:
            options["headroom"] = float(args.headroom)
        except ValueError:
            options["headroom"] = args.headroom
    if args.roles:
        options["role_order"] = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    for i, role in _indexed(args.role, "--role", len(specs), problems).items():
        roles[specs[i][0]] = role
    for i, text in _indexed(args.profile, "--profile", len(specs), problems).items():
        if "=" in text:
            profiles[specs[i][0]] = (f"--profile {i + 1}", _profile(text, problems))
        elif store is None:
            problems.append(f"--profile {i + 1}:{text}: expected BLOCK=VALUE (e.g. OUT=0.5, IN4=0), or the name of "
                            "a saved profile, which needs a library (give --root DIR)")
        else:
            try:
                profiles[specs[i][0]] = (text, plans.load_profile(store, text))
            except NotFound as exc:
                problems.append(f"--profile {i + 1}:{text}: {exc} (for multipliers write N:BLOCK=VALUE, e.g. "
                                f"{i + 1}:OUT=0.5)")
    options.update(root=args.root, roles=roles, profiles=profiles)
    if args.template and not problems:
        try:
            options = plans.apply_template(store, plans.load_template(store, args.template), specs, options, explicit)
        except NotFound as exc:
            problems.append(f"--template {args.template}: {exc}")
    if problems:
        raise PlanError(problems)
    return specs, options


def _from_plan(args, store, root, specs, roles, profiles, options, problems) -> None:
    """The stack and options of a saved plan (moved files at their new path)."""
    try:
        saved = plans.load_saved(store, args.from_plan, root)
    except NotFound as exc:
        problems.append(f"--from-plan: {exc}")
        return
    for note in saved.problems:
        if not any(note.startswith(m) for m in saved.missing):
            print(f"lora-atlas plan: note: {note}", file=sys.stderr)
    problems += [f"--from-plan {saved.name}: {p}" for p in saved.problems if any(p.startswith(m) for m in saved.missing)]
    inputs = saved.inputs
    for lo in inputs["loras"]:
        if lo["given"] in saved.missing:
            continue
        specs.append((lo["path"], lo["strength_model"], lo["strength_clip"]))
        if lo.get("role"):
            roles[lo["path"]] = lo["role"]
        if lo.get("profile"):
            profiles[lo["path"]] = (lo["profile"]["name"], lo["profile"]["multipliers"])
    options.update(policy=inputs["policy"], headroom=inputs["headroom"], role_order=tuple(inputs["role_order"]))


def _library_root(args):
    """--root, else the nearest folder holding .lora-atlas/ above the first file (or here)."""
    if args.root:
        return args.root
    first = parse_spec(args.loras[0])[0] if args.loras else os.path.join(os.getcwd(), "-")
    return find_root(first)


def run(args) -> int:
    saved = None
    try:
        root = _library_root(args)
        if root is None:
            if args.save or args.template or args.from_plan:
                raise PlanError(["--save, --template and --from-plan need a library: give --root DIR (the LoRA "
                                 "root; its store is kept in DIR/.lora-atlas/)"])
            specs, options = build_request(args)
            roles = roles_of([s[0] for s in specs], None, options.pop("roles"))
            options.pop("root", None)
            plan = plan_files(specs, roles=roles, **options)
        else:
            with reader_store(root, create=True) as (store, persist):
                if args.save and not persist:
                    raise PlanError([f"the library '{root}' is busy or read-only: --save cannot write now; try again"])
                specs, options = build_request(args, store, root)
                options.pop("root", None)
                plan, saved = plans.plan_and_record(store, root, specs, save_as=args.save, history=persist, **options)
    except (LibraryError, PlanError) as exc:
        return _fail(args, exc)
    if args.json:
        print_json(plan)
    else:
        print(render(plan))
        if saved is not None:
            print(f"\nsaved as plan {args.save!r} (id {saved}); 'lora-atlas plans show {args.save}' shows it")
    return 0


def _fail(args, exc) -> int:
    """Exit 2 with every problem (JSON on stdout with --json, else one line each on stderr)."""
    problems = getattr(exc, "problems", None) or [str(exc)]
    if args.json:
        print_json({"error": str(exc), "problems": problems})
    else:
        for problem in problems:
            print(f"lora-atlas plan: {problem}", file=sys.stderr)
    return 2


def render(plan: dict) -> str:
    lines = [f"plan: {len(plan['loras'])} LoRA(s), {plan['architecture']}, policy {plan['policy']}, "
             f"headroom {plan['headroom']:g}"]
    for lo in plan["loras"]:
        lines += ["", f"{lo['path']}  (role: {lo['role'] or '-'})",
                  f"  strength_model {lo['strength_model']:g}  strength_clip {lo['strength_clip']:g}  "
                  f"(text-encoder scale {lo['text_encoder_scale']:g})",
                  f"  block_vector  {lo['block_vector']}"]
        if lo["a1111"]:
            lines.append(f"  A1111         {lo['a1111']['prompt']}")
        rows = [[b["block"], b["position"] if b["position"] != b["block"] else "", f"{b['ratio']:g}",
                 f"{b['energy_before']:.4g}", f"{b['energy_after']:.4g}", b["reason"]]
                for b in lo["blocks"] if b["energy_before"] or b["ratio"] != 1]
        if rows:
            lines.append("  " + table(rows, ["block", "position", "ratio", "before", "after", "reason"]).replace("\n", "\n  "))
        lines += [f"  note: {n}" for n in lo["notes"]]
    rows = [[r["name"], r["loras"], f"{r['energy_before']:.4g}", f"{r['budget']:.4g}", f"{r['energy_after']:.4g}",
             r["status"]] for r in plan["stack"]["blocks"] + plan["stack"]["text_encoders"] if r["loras"] > 1]
    if rows:
        lines += ["", "stack (blocks shared by several LoRAs):",
                  "  " + table(rows, ["block", "LoRAs", "before", "budget", "after", "status"]).replace("\n", "\n  ")]
    lines += [f"warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines)
