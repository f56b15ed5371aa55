"""Benchmark: the panel's gallery on a 10,000-LoRA library, in Debian chromium (Playwright)
against `lora-atlas serve` on loopback.

Measured and printed:
  first paint   navigation start -> the first card with its LoRA shown, empty cache, in a running
                browser (goal <= 1 s); then the same after a reload (modules cached)
  DOM cards     the most `.la-card` elements present while scrolling through the whole grid
  JS heap       used JS heap after scrolling through all of it (after a GC, CDP Runtime.getHeapUsage)

    python bench/bench_panel.py [--files 10000] [--library DIR]

--library reuses a folder of LoRAs (scanned first if it has no store); otherwise sparse files with
real headers are written to a temporary folder (bench_inspect.build) and scanned.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "helpers"))
from panel_probes import SHOWN_AT_SCROLL  # noqa: E402 - the page probe the browser tests use too




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "lora_atlas", "serve", root, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/lora-atlas/loras?limit=1", timeout=60) as r:
                if json.loads(r.read())["total"]:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("lora-atlas serve did not list the library within 60 s")


def measure(url: str) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto("about:blank")                 # the browser itself is up: what follows is the page's
        page.goto(url, wait_until="commit")
        page.wait_for_selector(".la-card[data-id]:not([data-id=''])", timeout=30000)
        first_paint = page.evaluate("performance.now()") / 1000
        parts = page.evaluate("""() => {
            const r = performance.getEntriesByType('resource');
            const end = (re) => Math.max(0, ...r.filter((e) => re.test(e.name)).map((e) => e.responseEnd));
            const span = (re) => { const e = r.find((x) => re.test(x.name)); return e ? e.responseEnd - e.startTime : 0; };
            return { modules_ms: end(/\\.js$/), listing_ms: span(/lora-atlas\\/loras\\?/) }; }""")
        page.wait_for_timeout(300)               # a warm load of the panel (its second visit is cached)
        page.reload(wait_until="commit")
        page.wait_for_selector(".la-card[data-id]:not([data-id=''])", timeout=30000)
        warm_paint = page.evaluate("performance.now()") / 1000
        total = page.evaluate("document.querySelector('.la-scroller').scrollHeight")
        view = page.evaluate("document.querySelector('.la-scroller').clientHeight")
        most, steps, t = 0, 0, time.perf_counter()
        for top in range(0, total + view, view):
            page.evaluate(f"document.querySelector('.la-scroller').scrollTop = {top}")
            page.wait_for_function(SHOWN_AT_SCROLL, timeout=30000)
            most = max(most, page.evaluate("document.querySelectorAll('.la-card').length"))
            steps += 1
        scroll_s = time.perf_counter() - t
        cdp = page.context.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")
        status = page.inner_text(".la-status")
        browser.close()
    return {"parts": parts, "first_paint_s": first_paint, "warm_paint_s": warm_paint, "max_cards": most, "scroll_steps": steps,
            "scroll_s": scroll_s, "heap_used_mb": heap["usedSize"] / 2**20, "status": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--library", help="a folder of LoRAs to reuse instead of building one")
    args = parser.parse_args()
    if not shutil.which("chromium"):
        print("bench_panel: Debian chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    from lora_atlas.library import operations
    tmp = None
    root = args.library
    if root is None:
        from bench_inspect import build
        tmp = tempfile.mkdtemp(prefix="lora-atlas-bench-panel-")
        build(tmp, args.files)
        root = os.path.join(tmp, "lib")
    try:
        t = time.perf_counter()
        report = operations.scan_library(root)
        print(f"library: {report.files} LoRA files, scanned in {time.perf_counter() - t:.1f} s")
        port = free_port()
        server = start_server(root, port)
        try:
            m = measure(f"http://127.0.0.1:{port}/")
        finally:
            server.terminate()
            server.wait()
        print(f"gallery: {m['status']}")
        print(f"first paint (cold): {m['first_paint_s']:.3f} s   (goal <= 1 s)")
        print(f"  of which: every module loaded at {m['parts']['modules_ms']:.0f} ms, "
              f"first listing page (200 LoRAs) {m['parts']['listing_ms']:.0f} ms")
        print(f"first paint (warm): {m['warm_paint_s']:.3f} s")
        print(f"scrolled through all in {m['scroll_steps']} steps ({m['scroll_s']:.1f} s): "
              f"at most {m['max_cards']} cards in the DOM (goal <= ~60)")
        print(f"JS heap after scrolling through all: {m['heap_used_mb']:.1f} MiB")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
