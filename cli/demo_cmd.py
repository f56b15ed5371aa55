"""`lora-atlas demo DIR`: write the demo library (realistic synthetic LoRAs and bad files)."""

from __future__ import annotations

import sys

from ..demo.demo_library import build_demo_library


def register(sub) -> None:
    p = sub.add_parser("demo", help="write the demo library into DIR",
                       description="Write a small library of realistic synthetic LoRAs (several architectures and "
                                   "adapters, in role folders) plus broken files.\n\nExample:\n  lora-atlas demo ./demo-library")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--force", action="store_true", help="rebuild a demo library that already exists")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        paths = build_demo_library(args.dir, force=args.force)
    except FileExistsError as exc:
        print(f"lora-atlas demo: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} files into {args.dir}")
    return 0
