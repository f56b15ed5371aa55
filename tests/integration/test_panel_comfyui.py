"""The panel inside a real ComfyUI (COMFYUI_DIR) with Inspire (INSPIRE_DIR), in Debian chromium
through Playwright, on the frontend ComfyUI ships with (1.27.10 for 0.3.64, 1.49.6 for 0.33.0)
and on frontend 1.58.1 via --front-end-root (the PyPI wheel, downloaded with pip into
~/.cache/lora-atlas-tests at test time).

A user's path: open the "LoRA Atlas" sidebar tab (it mounts, and mounts once again after the tab
is closed and reopened), put two LoRAs in a plan, build it, "Insert into workflow": one Inspire
"LoRA Loader (Block Weight)" per LoRA pre-filled from the plan and chained between the checkpoint
loader and what it fed; the graph then renders on the random-weight SD1.5 checkpoint. A card
dragged onto the canvas adds a LoraLoader; dropped on a loader it sets that loader's LoRA. The pack
logs no console error. Tests run in file order on one page per frontend.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

from comfy_http import get_json, send   # tests/helpers, via pytest `pythonpath`

pytestmark = pytest.mark.integration

NEW_FRONTEND = "1.58.1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "lora-atlas-tests")
INSPIRE = "LoraLoaderBlockWeight //Inspire"
PLAN_LORAS = ("characters/hero.safetensors", "styles/watercolor.safetensors")          # the SD1 LoRAs of build_comfy_library
PACK_WORDS = ("lora_atlas", "lora-atlas", "lora atlas")


def frontend_root(version: str) -> str:
    """The `static` folder of comfyui-frontend-package==version, fetched once with pip into CACHE."""
    static = os.path.join(CACHE, f"comfyui-frontend-{version}", "comfyui_frontend_package", "static")
    if os.path.isfile(os.path.join(static, "index.html")):
        return static
    wheels = os.path.join(CACHE, "wheels")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", wheels,
                           f"comfyui-frontend-package=={version}"], capture_output=True, text=True, timeout=900)
    found = glob.glob(os.path.join(wheels, f"comfyui_frontend_package-{version}-*.whl"))
    if proc.returncode != 0 or not found:
        pytest.skip(f"pip could not download comfyui-frontend-package=={version}: {proc.stderr.strip()[-300:]}")
    partial = os.path.join(CACHE, f"comfyui-frontend-{version}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(found[0]) as whl:
        whl.extractall(partial)
    os.replace(partial, os.path.dirname(os.path.dirname(static)))
    return static


@pytest.fixture(scope="module", params=["bundled", NEW_FRONTEND])
def panel_server(request, comfy_env, sd15_checkpoint, launch_comfy, tmp_path_factory):
    """ComfyUI with the pack and Inspire as custom nodes (symlinks), our fixture LoRAs, the SD1.5
    checkpoint, and the frontend of the parameter."""
    from libraries import build_comfy_library   # tests/helpers

    if not comfy_env["inspire"]:
        pytest.skip("INSPIRE_DIR is not set: the panel inserts Inspire nodes, so its ComfyUI test needs Inspire")
    extra = ["--front-end-root", frontend_root(NEW_FRONTEND)] if request.param == NEW_FRONTEND else []
    base = tmp_path_factory.mktemp("comfy-panel")
    for d in ("custom_nodes", "checkpoints", "base/custom_nodes", "base/models/loras", "out", "tmp", "in",
              "user/default"):
        (base / d).mkdir(parents=True)
    os.symlink(REPO, base / "custom_nodes" / "lora_atlas")
    os.symlink(comfy_env["inspire"], base / "custom_nodes" / "ComfyUI-Inspire-Pack")
    os.symlink(sd15_checkpoint, base / "checkpoints" / "sd15_random.safetensors")
    # no first-run template gallery over the canvas
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    loras = build_comfy_library(base / "loras")
    yaml_path = base / "extra_model_paths.yaml"
    yaml_path.write_text(f"lora_atlas_panel_test:\n  base_path: {base}\n  custom_nodes: custom_nodes\n"
                         f"  loras: loras\n  checkpoints: checkpoints\n")
    with launch_comfy(comfy_env, base, yaml_path, extra) as (url, log_path, proc):
        yield {"url": url, "log": log_path, "loras": loras, "output": str(base / "out"), "frontend": request.param}


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the Debian chromium is used)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(panel_server, browser):
    """One ComfyUI page per frontend; `page.problems` collects the pack's console errors."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    pg = ctx.new_page()
    problems = []

    def note(kind, text):
        if any(w in text.lower() for w in PACK_WORDS):
            problems.append(f"{kind}: {text}")

    pg.on("console", lambda m: m.type == "error" and note("console", m.text + " @ " + str(m.location)))
    pg.on("pageerror", lambda e: note("pageerror", f"{e}\n{getattr(e, 'stack', '')}"))
    pg.on("response", lambda r: r.status >= 400 and note("http", f"{r.status} {r.url}"))
    pg.problems = problems
    pg.goto(panel_server["url"] + "/")
    pg.wait_for_function("() => window.app && window.app.graph && window.LiteGraph && "
                         "window.app.extensionManager && document.querySelector('#graph-canvas')", timeout=90_000)
    pg.wait_for_timeout(1500)
    yield pg
    ctx.close()


def _tab_button(page):
    return page.locator('[data-testid="lora-atlas-tab-button"], .lora-atlas-tab-button').first


def _panel(page):
    return page.locator("[data-lora-atlas-panel]")


def _open_tab(page):
    if not _panel(page).is_visible():
        _tab_button(page).click()
    _panel(page).wait_for(state="visible", timeout=30_000)


def _card(page, rel):
    """The gallery card of the LoRA at `rel`, found through the gallery's search (the grid is windowed)."""
    page.locator("#la-tab-gallery").click()
    search = _panel(page).locator(".la-search")
    if search.input_value() != rel:
        search.fill(rel)
    return _panel(page).locator(".la-card", has=page.locator(f'.la-name[title="{rel}"]')).first


_NODES = """() => (window.app.canvas.graph ?? window.app.graph)._nodes.map(n => ({
  id: n.id, type: n.type, pos: [n.pos[0], n.pos[1]],
  widgets: Object.fromEntries((n.widgets || []).map(w => [w.name, w.value])),
  inputs: (n.inputs || []).map(i => {
    const g = window.app.canvas.graph ?? window.app.graph;
    const l = i.link == null ? null : (g.getLink ? g.getLink(i.link) : g.links[i.link]);
    return { name: i.name, type: i.type, from: l ? [l.origin_id, l.origin_slot] : null };
  }),
}))"""


def _nodes(page):
    return page.evaluate(_NODES)


def test_the_tab_appears_and_mounts_the_panel_once(page, panel_server):
    version = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ ?? null")
    if panel_server["frontend"] == NEW_FRONTEND:
        assert version == NEW_FRONTEND
    print(f"frontend {version}")
    _tab_button(page).wait_for(timeout=30_000)
    _open_tab(page)
    for name in PLAN_LORAS:
        _card(page, name).wait_for(timeout=30_000)
    _tab_button(page).click()                   # close, reopen: the same single panel comes back
    page.wait_for_timeout(300)
    _open_tab(page)
    _card(page, "characters/hero.safetensors").wait_for(timeout=30_000)
    assert _panel(page).locator(".lora-atlas").count() == 1
    assert not page.problems, page.problems


def _default_graph_small(page):
    """ComfyUI's text-to-image graph on the test checkpoint at 64x64 and 2 steps (CPU), built node by
    node (the default graph differs between frontends)."""
    page.evaluate("""() => {
      const app = window.app, LG = window.LiteGraph, g = app.canvas.graph ?? app.graph;
      g.clear();
      const add = (type, x, y, widgets) => {
        const n = LG.createNode(type); n.pos = [x, y]; g.add(n);
        for (const [k, v] of Object.entries(widgets || {})) n.widgets.find(w => w.name === k).value = v;
        return n;
      };
      const ckpt = add("CheckpointLoaderSimple", 20, 300, {ckpt_name: "sd15_random.safetensors"});
      const pos = add("CLIPTextEncode", 420, 100, {text: "a watercolor hero"});
      const neg = add("CLIPTextEncode", 420, 350, {text: "blurry"});
      const latent = add("EmptyLatentImage", 420, 600, {width: 64, height: 64, batch_size: 1});
      const sampler = add("KSampler", 850, 100, {steps: 2, seed: 1});
      const decode = add("VAEDecode", 1200, 100);
      const save = add("SaveImage", 1450, 100);
      ckpt.connect(0, sampler, 0); ckpt.connect(1, pos, 0); ckpt.connect(1, neg, 0);
      pos.connect(0, sampler, 1); neg.connect(0, sampler, 2); latent.connect(0, sampler, 3);
      sampler.connect(0, decode, 0); ckpt.connect(2, decode, 1); decode.connect(0, save, 0);
      app.canvas.deselectAllNodes?.();
      app.canvas.ds.offset[0] = 300; app.canvas.ds.offset[1] = 0; app.canvas.ds.scale = 0.8;
      app.canvas.setDirty(true, true);
    }""")


def _queue_and_wait(page, server, timeout=600) -> dict:
    queued = page.evaluate("""async () => {
      const p = await window.app.graphToPrompt();
      const r = await fetch('/prompt', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({prompt: p.output, client_id: 'lora-atlas-panel-it'})});
      return {status: r.status, body: await r.json(), prompt: p.output};
    }""")
    assert queued["status"] == 200 and not queued["body"].get("node_errors"), queued["body"]
    pid = queued["body"]["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, history = get_json(server, f"/history/{pid}")
        if pid in history and history[pid]["status"].get("status_str") in ("success", "error"):
            return {"entry": history[pid], "prompt": queued["prompt"]}
        time.sleep(0.5)
    raise AssertionError(f"prompt {pid} did not finish")


def test_insert_into_workflow_chains_inspire_loaders_and_the_graph_renders(page, panel_server):
    _default_graph_small(page)
    before = {n["id"] for n in _nodes(page)}
    _open_tab(page)
    for name in PLAN_LORAS:
        _card(page, name).locator("button", has_text="+ plan").click()
    page.locator("#la-tab-plan").click()
    page.get_by_role("button", name="Build plan").click()
    page.get_by_role("button", name="Insert into workflow").click()
    page.wait_for_function(f"() => window.app.graph._nodes.filter(n => n.type === {INSPIRE!r}).length === 2",
                           timeout=30_000)
    nodes = {n["id"]: n for n in _nodes(page)}
    added = [n for i, n in nodes.items() if i not in before]
    assert [n["type"] for n in added] == [INSPIRE, INSPIRE]
    first, second = added
    plan_files = {n["widgets"]["lora_name"] for n in added}
    assert plan_files == {"characters/hero.safetensors", "styles/watercolor.safetensors"}
    for n in added:
        assert n["widgets"]["block_vector"].count(",") >= 11 and 0 < n["widgets"]["strength_model"] <= 1
    ckpt = next(n for n in nodes.values() if n["type"] == "CheckpointLoaderSimple")
    port = {i["name"]: i["from"] for i in first["inputs"]}
    assert port["model"] == [ckpt["id"], 0] and port["clip"] == [ckpt["id"], 1]
    port = {i["name"]: i["from"] for i in second["inputs"]}
    assert port["model"] == [first["id"], 0] and port["clip"] == [first["id"], 1]
    sampler = next(n for n in nodes.values() if n["type"] == "KSampler")
    assert {i["name"]: i["from"] for i in sampler["inputs"]}["model"] == [second["id"], 0]
    encoders = [n for n in nodes.values() if n["type"] == "CLIPTextEncode"]
    assert all({i["name"]: i["from"] for i in e["inputs"]}["clip"] == [second["id"], 1] for e in encoders)
    shots = os.environ.get("LORA_ATLAS_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
        page.screenshot(path=os.path.join(shots, f"panel-comfyui-{panel_server['frontend']}.png"))
    run = _queue_and_wait(page, panel_server)
    assert run["entry"]["status"]["status_str"] == "success", json.dumps(run["entry"]["status"])[-3000:]
    assert sorted(v["inputs"]["lora_name"] for v in run["prompt"].values() if v["class_type"] == INSPIRE) == \
        sorted(plan_files)
    images = [img for out in run["entry"]["outputs"].values() for img in out.get("images", [])]
    assert images and os.path.getsize(os.path.join(panel_server["output"], images[0]["subfolder"],
                                                   images[0]["filename"])) > 0
    assert "lora key not loaded" not in panel_server["log"].read_text()
    assert not page.problems, page.problems


def _loaders(page, type_="LoraLoader"):
    return [n for n in _nodes(page) if n["type"] == type_]


def test_a_card_dragged_onto_the_canvas_adds_a_lora_loader_there(page):
    _open_tab(page)
    before = {n["id"] for n in _loaders(page)}
    canvas = page.locator("#graph-canvas")
    box = canvas.bounding_box()
    target = {"x": box["width"] - 250, "y": box["height"] - 200}
    _card(page, "styles/watercolor.safetensors").drag_to(canvas, target_position=target, force=True)
    page.wait_for_function("n => window.app.graph._nodes.filter(x => x.type === 'LoraLoader').length > n",
                           arg=len(before), timeout=15_000)
    new = [n for n in _loaders(page) if n["id"] not in before]
    assert len(new) == 1 and new[0]["widgets"]["lora_name"] == "styles/watercolor.safetensors"
    where = page.evaluate("p => { const app = window.app; const r = document.querySelector('#graph-canvas')"
                          ".getBoundingClientRect(); const ds = app.canvas.ds;"
                          "return [(p[0] + ds.offset[0]) * ds.scale + r.left, (p[1] + ds.offset[1]) * ds.scale + r.top]; }",
                          new[0]["pos"])
    assert abs(where[0] - (box["x"] + target["x"])) < 3 and abs(where[1] - (box["y"] + target["y"])) < 3
    assert not page.problems, page.problems


def test_a_card_dropped_on_a_loader_sets_its_lora(page):
    """The drop of the card's data (what the drag carries) on the first Inspire loader's body."""
    inspire = _loaders(page, INSPIRE)[0]
    was = inspire["widgets"]["lora_name"]
    other = "concepts/texture.safetensors" if was != "concepts/texture.safetensors" else "styles/watercolor.safetensors"
    page.evaluate("""([id, rel]) => {
      const app = window.app, ds = app.canvas.ds, node = app.graph.getNodeById(id);
      const canvas = document.querySelector('#graph-canvas'), r = canvas.getBoundingClientRect();
      // bring the node to the middle of the visible canvas (right of the sidebar)
      const mid = [r.left + r.width * 0.65, r.top + r.height * 0.5];
      const c = [node.pos[0] + node.size[0] / 2, node.pos[1] + node.size[1] / 2];
      ds.offset[0] = (mid[0] - r.left) / ds.scale - c[0]; ds.offset[1] = (mid[1] - r.top) / ds.scale - c[1];
      app.canvas.setDirty(true, true);
      const dt = new DataTransfer();
      dt.setData('application/x-lora-atlas', JSON.stringify({id: 'x', name: 'n', rel, lora_name: rel}));
      const at = document.elementFromPoint(mid[0], mid[1]);
      for (const type of ['dragover', 'drop'])
        at.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, clientX: mid[0], clientY: mid[1],
                                              dataTransfer: dt}));
    }""", [inspire["id"], other])
    page.wait_for_function("([id, v]) => window.app.graph.getNodeById(id).widgets.find(w => w.name === 'lora_name')"
                           ".value === v", arg=[inspire["id"], other], timeout=15_000)
    assert len(_loaders(page, INSPIRE)) == 2          # set in place, nothing added
    assert not page.problems, page.problems


def test_graph_loras_and_add_to_graph_through_the_host(page):
    """What the plan builder's "Take LoRAs from the workflow" reads, and the card's "Add to graph"."""
    loras = page.evaluate("""async () => {
      const { makeComfyHost } = await import('/extensions/lora_atlas/comfy/host.js');
      const { app } = await import('/scripts/app.js');
      const { api } = await import('/scripts/api.js');
      return makeComfyHost({ app, api, LiteGraph: window.LiteGraph }).graphLoras();
    }""")
    names = sorted(lo["name"] for lo in loras)
    assert names == sorted(["concepts/texture.safetensors", "styles/watercolor.safetensors",
                            "styles/watercolor.safetensors"]), loras
    assert all(isinstance(lo["strength"], (int, float)) for lo in loras)
    before = len(_loaders(page))
    _open_tab(page)
    _card(page, "characters/hero.safetensors").locator("button", has_text="Add to graph").click()
    page.wait_for_function("n => window.app.graph._nodes.filter(x => x.type === 'LoraLoader').length > n",
                           arg=before, timeout=15_000)
    ckpt = next(n for n in _nodes(page) if n["type"] == "CheckpointLoaderSimple")
    added = [n for n in _loaders(page) if n["widgets"]["lora_name"] == "characters/hero.safetensors"][-1]
    assert {i["name"]: i["from"] for i in added["inputs"]}["model"] == [ckpt["id"], 0]
    assert not page.problems, page.problems


def test_with_the_inspire_setting_off_a_plan_goes_in_as_apply_lora_plan_and_renders(page, panel_server):
    """The setting (read and written through the host, on each frontend's settings API) switches the
    insert to the pack's Multi-LoRA Planner feeding one Apply LoRA Plan, chained the same way."""
    stored = page.evaluate("""async () => {
      const { makeComfyHost, SETTING_USE_INSPIRE } = await import('/extensions/lora_atlas/comfy/host.js');
      const { app } = await import('/scripts/app.js');
      const { api } = await import('/scripts/api.js');
      const host = makeComfyHost({ app, api, LiteGraph: window.LiteGraph });
      await host.setSetting(SETTING_USE_INSPIRE, false);
      return host.getSetting(SETTING_USE_INSPIRE, true);
    }""")
    assert stored is False
    try:
        _default_graph_small(page)
        _open_tab(page)
        page.locator("#la-tab-plan").click()
        page.get_by_role("button", name="Insert into workflow").click()
        page.wait_for_function("() => window.app.graph._nodes.some(n => n.type === 'LoraAtlasApplyPlan')",
                               timeout=30_000)
        nodes = _nodes(page)
        assert not [n for n in nodes if n["type"] == INSPIRE]
        planner = next(n for n in nodes if n["type"] == "LoraAtlasPlanner")
        apply = next(n for n in nodes if n["type"] == "LoraAtlasApplyPlan")
        assert {planner["widgets"]["lora_1"], planner["widgets"]["lora_2"]} == set(PLAN_LORAS)
        assert planner["widgets"]["policy"] == "balanced"
        ckpt = next(n for n in nodes if n["type"] == "CheckpointLoaderSimple")
        port = {i["name"]: i["from"] for i in apply["inputs"]}
        assert port["model"] == [ckpt["id"], 0] and port["clip"] == [ckpt["id"], 1]
        assert port["lora_plan"] == [planner["id"], 0]
        sampler = next(n for n in nodes if n["type"] == "KSampler")
        assert {i["name"]: i["from"] for i in sampler["inputs"]}["model"] == [apply["id"], 0]
        run = _queue_and_wait(page, panel_server)
        assert run["entry"]["status"]["status_str"] == "success", json.dumps(run["entry"]["status"])[-3000:]
    finally:
        page.evaluate("""async () => {
          const { writeSetting, SETTING_USE_INSPIRE } = await import('/extensions/lora_atlas/comfy/host.js');
          const { app } = await import('/scripts/app.js');
          await writeSetting(app, SETTING_USE_INSPIRE, true);
        }""")
    assert not page.problems, page.problems


def test_no_pack_errors_in_the_server_log(panel_server):
    status, _ = send(panel_server, "GET", "/api/lora-atlas/settings")
    assert status == 200
    log = panel_server["log"].read_text()
    assert "IMPORT FAILED" not in log and "Traceback" not in log, log[-3000:]
