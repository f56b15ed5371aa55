"""Benchmark: route latency on a 10,000-LoRA index, 20 concurrent clients on loopback.

The library (sparse files with real headers, bench_inspect.build) is scanned once into its store.
A server process runs the /lora-atlas/ routes exactly as `lora-atlas serve` does (same
application, server.app.make_app) plus a static-file route serving a file of the size of a
listing page: the baseline, measured in the same run. The client (this process, aiohttp) keeps 20
requests in flight and reports p50 / p99 / throughput for:

  static     GET /bench-static/page.json                      (aiohttp's static file handler)
  list       GET /lora-atlas/loras?offset=<random>&limit=50    (pagination over all 10,000)
  search     GET /lora-atlas/loras?q=<word>&architecture=...&sort=name&limit=50
  filter     GET /lora-atlas/loras?role=03&adapter=lora&limit=50

Goal: p99 <= 50 ms for list and search.

    python bench/bench_routes.py [--files 10000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def serve(root: str, static_dir: str, port: int) -> None:
    from aiohttp import web

    from lora_atlas.server.app import make_app
    app = make_app([root], auto_scan=False)
    app.router.add_static("/bench-static", static_dir)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def percentile(values, p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def load(url: str, paths, concurrency: int) -> dict:
    import aiohttp
    latencies, queue = [], list(paths)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker():
            while queue:
                path = queue.pop()
                t = time.perf_counter()
                async with session.get(url + path) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                latencies.append((time.perf_counter() - t) * 1000)
        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "rps": len(latencies) / wall,
            "n": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=2000, help="per kind of request")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--serve", nargs=3, metavar=("ROOT", "STATIC", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0

    from bench_inspect import build

    from lora_atlas.server.state import LibraryState
    tmp = tempfile.mkdtemp(prefix="lora-atlas-bench-routes-")
    try:
        build(tmp, args.files)
        root = os.path.join(tmp, "lib")
        t = time.perf_counter()
        svc = LibraryState([root], auto_scan=False)
        svc.refresh()
        n_items = len(svc.items())
        svc.close()
        print(f"index: {n_items} LoRAs scanned into the store in {time.perf_counter() - t:.1f} s")
        static = os.path.join(tmp, "static")
        os.makedirs(static)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, __file__, "--serve", root, static, str(port)])
        try:
            import urllib.request
            for _ in range(600):
                try:
                    page = urllib.request.urlopen(url + "/lora-atlas/loras?limit=50", timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.1)
            with open(os.path.join(static, "page.json"), "wb") as fh:
                fh.write(page)                                  # same bytes as a listing page
            rng = random.Random(0)
            words = ["sd1_lora", "sdxl", "flux", "00042", "file 12", "_0099", "lora_0", "nothing-matches"]
            archs = ["", "&architecture=sdxl", "&architecture=flux", "&architecture=sd1"]
            kinds = {
                "static": ["/bench-static/page.json"] * args.requests,
                "list": [f"/lora-atlas/loras?offset={rng.randrange(n_items)}&limit=50" for _ in range(args.requests)],
                "search": [f"/lora-atlas/loras?q={rng.choice(words).replace(' ', '%20')}{rng.choice(archs)}"
                           f"&sort=name&limit=50" for _ in range(args.requests)],
                "filter": [f"/lora-atlas/loras?role={rng.randrange(10):02d}&adapter=lora&sort=-size&limit=50"
                           for _ in range(args.requests)],
            }
            for paths in kinds.values():                                        # warm-up (caches, sockets)
                asyncio.run(load(url, paths[:200], args.clients))
            print(f"{args.clients} concurrent clients, {args.requests} requests per kind, loopback; "
                  f"listing page = {len(page)} bytes")
            print(f"{'kind':<8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
            results = {}
            for kind, paths in kinds.items():
                r = results[kind] = asyncio.run(load(url, paths, args.clients))
                print(f"{kind:<8}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['rps']:>9.0f}")
            worst = max(results[k]["p99"] for k in ("list", "search", "filter"))
            print(f"goal p99 <= 50 ms for list/search/filter: {'met' if worst <= 50 else 'NOT met'} "
                  f"(worst {worst:.1f} ms)")
            print(json.dumps({"files": n_items, "clients": args.clients, **results}))
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
