"""`lora-atlas plan FILE[:STRENGTH[:CLIP]]... [--policy P] [--json]`: a multi-LoRA plan."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, POLICIES, PlanError
from ..library.errors import LibraryError
from ..library.operations import reader_store
from ..library.plan_exports import plan_text
from ..library.plan_requests import LoraRequest, PlanRequest
from ..library.planning import plan_request
from ..library.roles import KNOWN_ROLES, find_root
from .output import print_json

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


def build_request(args, library: bool = False) -> PlanRequest:
    """The PlanRequest of parsed arguments; what cannot be parsed is noted in its `problems`.
    A saved profile's name (N:NAME), --template and --from-plan need a `library`."""
    request = PlanRequest(template=args.template, from_plan=args.from_plan, policy=args.policy or None)
    if args.headroom:
        try:
            request.headroom = float(args.headroom)
        except ValueError:
            request.headroom = args.headroom
    if args.roles:
        request.role_order = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    request.loras = [LoraRequest(*parse_spec(s)) for s in args.loras]
    n = len(request.loras)
    for i, role in _indexed(args.role, "--role", n, request.problems).items():
        request.loras[i].role = role
    for i, text in _indexed(args.profile, "--profile", n, request.problems).items():
        lora = request.loras[i]
        if "=" in text:
            lora.profile, lora.where = _profile(text, request.problems), f"--profile {i + 1}"
        elif not library:
            request.problems.append(f"--profile {i + 1}:{text}: expected BLOCK=VALUE (e.g. OUT=0.5, IN4=0), or the "
                                    "name of a saved profile, which needs a library (give --root DIR)")
        else:
            lora.profile, lora.where = text, f"--profile {i + 1}:{text}"
            lora.hint = f" (for multipliers write N:BLOCK=VALUE, e.g. {i + 1}:OUT=0.5)"
    return request


def _library_root(args):
    """--root, else the nearest folder holding .lora-atlas/ above the first file (or here)."""
    if args.root:
        return args.root
    first = parse_spec(args.loras[0])[0] if args.loras else os.path.join(os.getcwd(), "-")
    return find_root(first)


def run(args) -> int:
    try:
        root = _library_root(args)
        if root is None:
            if args.save or args.template or args.from_plan:
                raise PlanError(["--save, --template and --from-plan need a library: give --root DIR (the LoRA "
                                 "root; its store is kept in DIR/.lora-atlas/)"])
            result = plan_request(build_request(args))
        else:
            with reader_store(root, create=True) as (store, persist):
                if args.save and not persist:
                    raise PlanError([f"the library '{root}' is busy, read-only or its disk is full: --save cannot write now; try again"])
                result = plan_request(build_request(args, library=True), store, root, save_as=args.save,
                                      history=persist)
    except (LibraryError, PlanError) as exc:
        return _fail(args, exc)
    for note in result.notes:
        print(f"lora-atlas plan: note: {note}", file=sys.stderr)
    if args.json:
        print_json(result.plan)
    else:
        print(plan_text(result.plan))
        if result.saved_id is not None:
            print(f"\nsaved as plan {args.save!r} (id {result.saved_id}); 'lora-atlas plans show {args.save}' shows it")
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
