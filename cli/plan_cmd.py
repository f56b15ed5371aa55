"""`lora-atlas plan FILE[:STRENGTH[:CLIP]]... [--policy P] [--json]`: a multi-LoRA plan."""

from __future__ import annotations

import argparse
import sys

from ..engine.plan_inputs import KNOWN_ROLES, parse_spec, plan_files
from ..engine.planner import DEFAULT_HEADROOM, DEFAULT_POLICY, DEFAULT_ROLE_ORDER, POLICIES, PlanError
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
  lora-atlas plan a.safetensors b.safetensors --profile 2:OUT=0.5,IN4=0"""


def register(sub) -> None:
    p = sub.add_parser("plan", help="a multi-LoRA block-weight plan", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("loras", nargs="*", metavar="FILE[:STRENGTH[:CLIP]]")
    p.add_argument("--policy", default=DEFAULT_POLICY, help=f"one of {', '.join(POLICIES)} (default {DEFAULT_POLICY})")
    p.add_argument("--headroom", default=str(DEFAULT_HEADROOM),
                   help=f"budget above the strongest single LoRA, 0..10 (default {DEFAULT_HEADROOM})")
    p.add_argument("--roles", default=",".join(DEFAULT_ROLE_ORDER),
                   help=f"role priority, highest first (default {','.join(DEFAULT_ROLE_ORDER)})")
    p.add_argument("--root", help="the LoRA root whose first-level folders are the roles")
    p.add_argument("--role", action="append", default=[], metavar="N=ROLE",
                   help="give the N-th LoRA (1-based) this role, whatever its folder")
    p.add_argument("--profile", action="append", default=[], metavar="N:BLOCK=V,...",
                   help="multiply the N-th LoRA's ratios per block label (OUT3) or group (OUT), after the policy")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    p.set_defaults(run=run)


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


def build_request(args):
    """(specs, options) from parsed arguments, or raise PlanError listing every problem."""
    problems = []
    specs = [parse_spec(s) for s in args.loras]
    try:
        headroom = float(args.headroom)
    except ValueError:
        headroom = args.headroom
    roles = {}
    for i, role in _indexed(args.role, "--role", len(specs), problems).items():
        roles[specs[i][0]] = role
    profiles = {}
    for i, text in _indexed(args.profile, "--profile", len(specs), problems).items():
        profiles[specs[i][0]] = (f"--profile {i + 1}", _profile(text, problems))
    role_order = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    if problems:
        raise PlanError(problems)
    return specs, dict(policy=args.policy, headroom=headroom, role_order=role_order, root=args.root, roles=roles,
                       profiles=profiles)


def run(args) -> int:
    try:
        specs, options = build_request(args)
        plan = plan_files(specs, **options)
    except PlanError as exc:
        if args.json:
            print_json({"error": str(exc), "problems": exc.problems})
        else:
            for problem in exc.problems:
                print(f"lora-atlas plan: {problem}", file=sys.stderr)
        return 2
    if args.json:
        print_json(plan)
    else:
        print(render(plan))
    return 0


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
