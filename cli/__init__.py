"""`lora-atlas`: the same operations as the routes, for a terminal.

Each command is thin: parse, call one engine or library function, print. `--json` prints one
JSON document on stdout and nothing else. Exit codes: 0 done (bad files are reported, not fatal),
1 the command ran but found problems it must signal, 2 it could not run (bad usage).

A new command: a `*_cmd.py` here with `register(sub)` (its help ends with an `Example:`), listed in
COMMANDS.
"""

from __future__ import annotations

import argparse
import sys

from . import analyze_cmd, demo_cmd, import_cmd, inspect_cmd, library_cmds, plan_cmd, plans_cmd, previews_cmd, serve_cmd

COMMANDS = (inspect_cmd, demo_cmd, library_cmds, import_cmd, analyze_cmd, plan_cmd, plans_cmd, previews_cmd, serve_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-atlas", description="Organize, understand and stack LoRA libraries.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
