"""`lora-atlas serve DIR...`: the /lora-atlas/ routes and the panel (at /) on loopback, without ComfyUI."""

from __future__ import annotations

import argparse
import os
import sys

HELP = """Serve the same HTTP routes as inside ComfyUI (/lora-atlas/loras, /lora-atlas/plan, jobs, ...)
on a plain aiohttp server bound to a loopback address, for the LoRA roots given. Job progress is
sent on the /ws websocket as {"type": "lora-atlas.job", "data": ...}. Requests another web page
could make the browser send are refused: a Host that is not loopback, a foreign Origin or
Sec-Fetch-Site: cross-site (403), a POST/PUT/PATCH/DELETE body that is not application/json (415).

Example:
  lora-atlas serve ~/ComfyUI/models/loras --port 8190
  curl 'http://127.0.0.1:8190/lora-atlas/loras?q=ink&limit=5'"""


def register(sub) -> None:
    p = sub.add_parser("serve", help="the HTTP routes without ComfyUI (loopback only)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", metavar="DIR", help="LoRA root folder(s)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address: 127.0.0.1 (default), ::1 or localhost")
    p.add_argument("--port", type=int, default=8190, help="port (default 8190)")
    p.set_defaults(run=run)


def run(args) -> int:
    from aiohttp import web

    from ..server.app import LOOPBACK, make_app
    if args.host not in LOOPBACK:
        print(f"lora-atlas serve: --host must be a loopback address ({', '.join(LOOPBACK)}): the routes can "
              "move files and have no authentication", file=sys.stderr)
        return 2
    missing = [d for d in args.dirs if not os.path.isdir(d)]
    if missing:
        print(f"lora-atlas serve: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    app = make_app([os.path.abspath(d) for d in args.dirs])
    print(f"LoRA Atlas on http://{args.host}:{args.port}/  (the panel; Ctrl+C to stop)", file=sys.stderr)
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0
