"""The panel in a real browser against `lora-atlas serve`: the gallery lists and filters, the
detail draws the block-energy chart, a config edit lands in config.yaml, a plan is built and its
block vector copied, an organize job shows its progress and result, and 10,000 LoRAs keep the
DOM to the visible cards."""

from __future__ import annotations

import json

import pytest
import yaml

from lora_atlas.library import operations

from many_loras import build_many
from panel_probes import SHOWN_AT_SCROLL      # tests/helpers


def open_panel(page, served):
    page.goto(served.url, wait_until="domcontentloaded")
    page.wait_for_selector(".la-card[data-id]:not([data-id=''])")


def card_names(page) -> list:
    return page.locator(".la-card .la-name").all_inner_texts()


def wait_count(page, total: int):
    page.wait_for_function(f"document.querySelector('.la-status').textContent.startsWith('{total} LoRA')",
                           timeout=10000)


def test_gallery_lists_and_filters(page, serve, library_copy):
    served = serve(library_copy("demo"))
    every = served.api("/loras?limit=500")
    open_panel(page, served)
    wait_count(page, every["total"])
    assert sorted(card_names(page)) == sorted(it["name"] for it in every["items"])

    page.select_option("select[name=architecture]", "sdxl")
    sdxl = served.api("/loras?architecture=sdxl&limit=500")
    assert 0 < sdxl["total"] < every["total"]
    wait_count(page, sdxl["total"])
    assert sorted(card_names(page)) == sorted(it["name"] for it in sdxl["items"])

    page.select_option("select[name=architecture]", "")
    page.fill("input[type=search]", "inksketch")        # a trigger word, not a name
    wait_count(page, 1)
    assert card_names(page) == ["Ink Sketch"]

    page.fill("input[type=search]", "")
    broken = served.api("/loras?ok=0&limit=500")
    page.select_option("select[name=ok]", "0")                # the route's own `ok` filter
    wait_count(page, broken["total"])
    assert sorted(card_names(page)) == sorted(it["name"] for it in broken["items"])
    assert page.locator(".la-card .la-badge", has_text="error").count() == broken["total"]

    page.select_option("select[name=ok]", "")
    page.select_option("select[name=has_preview]", "0")       # a filter applied in the page
    bare = [it["name"] for it in every["items"] if not it["has_preview"]]
    wait_count(page, len(bare))
    assert sorted(card_names(page)) == sorted(bare)


def test_detail_shows_the_block_energy_chart(page, serve, library_copy):
    served = serve(library_copy("demo"))
    item = served.api("/loras?q=inksketch")["items"][0]
    detail = served.api(f"/loras/{item['id']}")
    open_panel(page, served)
    page.locator(".la-card", has_text="Ink Sketch").click()
    page.wait_for_selector(".la-detail svg.la-chart")
    bars = page.locator(".la-detail svg.la-chart rect.la-bar")
    blocks = [b["name"] for b in detail["analysis"]["blocks"]] + sorted(detail["analysis"]["text_encoders"])
    assert bars.count() == len(blocks)
    assert [bars.nth(i).get_attribute("data-block") for i in range(bars.count())] == blocks
    heights = {bars.nth(i).get_attribute("data-block"): float(bars.nth(i).get_attribute("height"))
               for i in range(bars.count())}
    top = max(detail["analysis"]["blocks"], key=lambda b: b["energy"])["name"]
    assert heights[top] > heights["IN4"] > 0      # bars follow the measured energy
    assert "inksketch" in page.locator(".la-triggers").inner_text()
    page.keyboard.press("Escape")
    assert page.locator(".la-gallery").is_visible()


def test_config_edit_lands_in_config_yaml(page, serve, library_copy):
    root = library_copy("demo")
    operations.organize(str(root))                 # config.yaml per LoRA
    served = serve(root)
    item = served.api("/loras?q=inksketch")["items"][0]
    open_panel(page, served)
    page.locator(".la-card", has_text="Ink Sketch").click()
    page.wait_for_selector(".la-form")
    page.fill(".la-form textarea[name=notes]", "great for line art")
    page.fill(".la-form input[name=tags]", "ink, lineart")
    page.fill(".la-form input[name=default_weight]", "0.7")
    page.click(".la-form button[type=submit]")
    page.wait_for_selector(".la-form .la-status:has-text('Saved')", timeout=10000)
    config = yaml.safe_load((root / item["path"]).parent.joinpath("config.yaml").read_text())
    assert config["notes"] == "great for line art"
    assert config["tags"] == ["ink", "lineart"]
    assert config["default_weight"] == 0.7
    assert served.api(f"/loras/{item['id']}")["default_weight"] == 0.7
    assert served.api("/loras?q=inksketch")["items"][0]["tags"] == ["ink", "lineart"]   # the listing shows them
    open_panel(page, served)
    page.fill("input[name=tag]", "LineArt")                  # a tag filter, applied in the page
    wait_count(page, 1)
    assert card_names(page) == ["Ink Sketch"]


def test_plan_is_built_and_copied(page, serve, library_copy):
    served = serve(library_copy("demo"))
    open_panel(page, served)
    for name in ("Ink Sketch", "red_hair_girl_pony"):
        page.locator(".la-card", has_text=name).locator("button", has_text="+ plan").click()
    page.click("[role=tab]:has-text('Plan')")
    assert page.locator(".la-plan tbody tr").count() == 2
    page.click("button:has-text('Build plan')")
    page.wait_for_selector(".la-plan-lora", timeout=20000)
    assert page.locator(".la-plan-lora").count() == 2
    assert page.locator(".la-plan-result svg.la-chart rect.la-bar").count() > 0
    vector = page.locator(".la-plan-lora").first.locator("code.la-vector").first.inner_text()
    ink, red = (served.api(f"/loras?q={q}")["items"][0] for q in ("inksketch", "red_hair"))
    plan = json.loads(_post(served, "/plan", {"loras": [{"id": ink["id"], "strength_model": 1},
                                                       {"id": red["id"], "strength_model": 1}]}))
    assert vector == plan["loras"][0]["block_vector"]
    button = page.locator(".la-plan-lora").first.locator("button", has_text="Copy vector")
    button.click()
    assert button.get_attribute("data-copied") == vector
    assert page.evaluate("navigator.clipboard.readText()") == vector
    assert page.locator("button:has-text('Insert into workflow')").count() == 0   # serve has no graph


def _post(served, path, body) -> str:
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{served.port}/lora-atlas{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def test_organize_job_shows_progress_and_result(page, serve, library_copy):
    served = serve(library_copy("demo"))
    open_panel(page, served)
    page.evaluate("""() => { window.jobEvents = []; const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onmessage = (e) => window.jobEvents.push(JSON.parse(e.data));
        return new Promise((ok) => { ws.onopen = ok; }); }""")
    page.click("[role=tab]:has-text('Library')")
    page.click("button[data-action=organize]")
    page.wait_for_selector(".la-job[data-state=done]", timeout=60000)
    job = page.locator(".la-job[data-state=done]").first
    assert "organize" in job.inner_text()
    assert page.locator(".la-job[data-state=done] progress").get_attribute("value") is not None
    quarantined = job.locator("table", has_text="Quarantined")
    assert "empty file" in quarantined.inner_text()                  # the reason is shown
    assert job.locator("table", has_text="From").locator("tbody tr").count() > 3
    events = page.evaluate("window.jobEvents")
    states = [e["data"]["state"] for e in events if e["type"] == "lora-atlas.job"]
    assert "running" in states and states[-1] == "done"
    assert any(e["data"]["progress"] for e in events if e["type"] == "lora-atlas.job")


@pytest.fixture(scope="session")
def library_10k(tmp_path_factory):
    root = build_many(tmp_path_factory.mktemp("big") / "lib", 10000)
    operations.scan_library(root)
    return root


def test_ten_thousand_loras_keep_the_dom_small(page, serve, library_10k):
    served = serve(library_10k)
    open_panel(page, served)
    wait_count(page, 10000)
    scroller = page.locator(".la-scroller")
    height = page.evaluate("document.querySelector('.la-scroller').scrollHeight")
    most = 0
    for fraction in (0, 0.1, 0.33, 0.5, 0.77, 1.0):
        scroller.evaluate(f"(el) => {{ el.scrollTop = el.scrollHeight * {fraction}; }}")
        page.wait_for_function(SHOWN_AT_SCROLL, timeout=10000)
        most = max(most, page.locator(".la-card").count())
    assert 0 < most <= 60
    assert height > 10000 / 7 * 200              # the spacer spans every row
    assert "lora_09999" in card_names(page)      # the last page was fetched and shown


def test_mount_is_idempotent_and_modules_import_without_effects(page, serve, library_copy):
    served = serve(library_copy("demo"))
    open_panel(page, served)
    again = page.evaluate("""async () => {
        const { mountPanel } = await import('./panel/app.js');
        const target = document.getElementById('lora-atlas-serve');
        const before = window.loraAtlasPanel;
        const host = before.host;
        mountPanel(target, host); mountPanel(target, host);
        return { panels: target.querySelectorAll('.lora-atlas').length, same: mountPanel(target, host) === before,
                 cards: target.querySelectorAll('.la-card').length };
    }""")
    assert again == {"panels": 1, "same": True, "cards": again["cards"]} and again["cards"] > 0
    # what ComfyUI does with every .js under web/: import it into a page that is not the serve page
    page.goto(served.url + "panel/dom.js", wait_until="domcontentloaded")
    effects = page.evaluate("""async () => {
        document.body.replaceChildren();
        const names = ['api', 'services', 'dom', 'chart', 'gallery', 'detail', 'plan', 'actions', 'styles', 'app'];
        for (const n of names) await import(`/panel/${n}.js`);
        await import('/serve_main.js');
        return { children: document.body.children.length, head: document.head.querySelectorAll('style').length,
                 panel: typeof window.loraAtlasPanel };
    }""")
    assert effects == {"children": 0, "head": 0, "panel": "undefined"}


def test_mount_paints_errors_into_the_container(page, serve, library_copy):
    served = serve(library_copy("demo"))
    open_panel(page, served)
    text = page.evaluate("""async () => {
        const { mountPanel } = await import('./panel/app.js');
        const el = document.createElement('div');
        document.body.appendChild(el);
        mountPanel(el, { kind: 'comfy', apiBase: '/no-such-prefix', subscribe: () => () => {}, toast: () => {},
                         getSetting: (id, d) => d, setSetting: () => {} });
        await new Promise((ok) => setTimeout(ok, 1500));
        return el.innerText;
    }""")
    assert "could not start" in text and "404" in text


def test_keyboard_moves_through_the_grid_and_opens_a_card(page, serve, library_copy):
    served = serve(library_copy("demo"))
    every = served.api("/loras?limit=500")["items"]
    open_panel(page, served)
    page.focus(".la-scroller")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.dataset.index")
    assert focused == "2"
    page.keyboard.press("Enter")
    page.wait_for_selector(".la-detail h2")
    assert page.inner_text(".la-detail h2") == every[2]["name"]
    page.keyboard.press("Escape")
    assert page.locator(".la-tabs [aria-selected=true]").inner_text() == "Gallery"
    page.wait_for_function("document.activeElement.dataset.index === '2'")     # back on the card it opened
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.index") == str(len(every) - 1)
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.dataset.index") == str(len(every) - 1 - page.evaluate(
        "Math.max(1, Math.floor(document.querySelector('.la-scroller').clientWidth / 168))"))


def test_cards_carry_the_drag_payload(page, serve, library_copy):
    served = serve(library_copy("demo"))
    item = served.api("/loras?q=inksketch")["items"][0]
    open_panel(page, served)
    payload = page.evaluate("""() => {
        const card = [...document.querySelectorAll('.la-card')].find((c) => c.innerText.includes('Ink Sketch'));
        const dt = new DataTransfer();
        card.dispatchEvent(new DragEvent('dragstart', { dataTransfer: dt, bubbles: true }));
        return JSON.parse(dt.getData('application/x-lora-atlas'));
    }""")
    assert payload == {"id": item["id"], "name": "Ink Sketch", "rel": item["path"], "lora_name": item["path"]}


def test_serve_stops_at_once_with_the_panel_open(page, serve, library_copy):
    import signal
    import time
    served = serve(library_copy("demo"))
    open_panel(page, served)
    page.wait_for_function("window.loraAtlasPanel.h.socket.readyState === 1")
    t = time.monotonic()
    served.proc.send_signal(signal.SIGINT)               # Ctrl+C
    served.proc.wait(30)
    assert time.monotonic() - t < 4                      # not aiohttp's 60 s wait for the websocket
