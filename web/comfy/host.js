// The panel's host inside ComfyUI (the contract of web/panel/app.js `mountPanel(container, host)`):
// events from ComfyUI's socket, toasts, settings, and the graph actions (insert a plan, add a LoRA,
// a card dropped on the canvas, the LoRAs the graph loads). `app`, `api` and `LiteGraph` are passed
// in by the entry (web/lora_atlas.js), so this module imports no ComfyUI script and has no side
// effects (ComfyUI loads every .js under web/ as an extension).

import {
  INSPIRE_LOADER, PLAIN_LOADER, chooseAnchor, itemLoraName, lorasInGraph, placeRow, planNodes,
} from "./graph_plan.js";
import { activeGraph, applySpec, createNode, selectedIds, setWidget, snapshot } from "./litegraph.js";

export const API_BASE = "/api/lora-atlas";
export const SETTING_USE_INSPIRE = "LoRAAtlas.Insert.UseInspire";
export const EVENTS = ["lora-atlas.job", "lora-atlas.library", "lora-atlas.preview"];   // server/events.py

const SEVERITY = { success: "success", info: "info", warning: "warn", warn: "warn", error: "error" };

/** A toast on any frontend: the 1.4x+ methods (success/info/warning/error), else 1.27's `add`. */
export function showToast(app, level, text) {
  const t = app.extensionManager?.toast;
  const method = level === "warn" ? "warning" : level;
  try {
    if (t && typeof t[method] === "function" && typeof t.success === "function") {
      t[method]("LoRA Atlas", { description: String(text), duration: level === "error" ? 8000 : 4000 });
    } else if (t && typeof t.add === "function") {
      t.add({ severity: SEVERITY[level] ?? "info", summary: "LoRA Atlas", detail: String(text),
              life: level === "error" ? 8000 : 4000 });
    } else {
      console.info(`LoRA Atlas (${level}): ${text}`);
    }
  } catch (err) {
    console.warn("LoRA Atlas: toast failed", err);
  }
}

const LOCAL_PREFIX = "lora-atlas.setting.";

/** A setting from the frontend's store, else (an id the store does not know) from localStorage. */
export function readSetting(app, id, fallback) {
  let value;
  try {
    const store = app.extensionManager?.setting;
    value = store?.get ? store.get(id) : app.ui?.settings?.getSettingValue?.(id);
  } catch {
    value = undefined;
  }
  if (value === undefined || value === null) {
    try {
      const raw = globalThis.localStorage?.getItem(LOCAL_PREFIX + id);
      if (raw !== null && raw !== undefined) value = JSON.parse(raw);
    } catch {
      value = undefined;
    }
  }
  return value === undefined || value === null ? fallback : value;
}

/** Write a setting to the frontend's store; an id it refuses (1.27 throws on ids no extension
 *  registered) goes to localStorage instead. Never rejects. */
export async function writeSetting(app, id, value) {
  try {
    const store = app.extensionManager?.setting;
    if (store?.set) return await store.set(id, value);
    if (app.ui?.settings?.setSettingValue) return await app.ui.settings.setSettingValue(id, value);
  } catch {
    /* not a registered id on this frontend: kept in this browser below */
  }
  try {
    globalThis.localStorage?.setItem(LOCAL_PREFIX + id, JSON.stringify(value));
  } catch {
    /* storage refused (private mode): the value lasts this session only in the panel */
  }
  return undefined;
}

/** The LoRA names ComfyUI lists now (asked from the server, so files an organize job moved count). */
export async function comfyLoraNames(api) {
  const res = await api.fetchApi("/object_info/LoraLoader");
  if (!res.ok) throw new Error(`ComfyUI's LoraLoader definition: HTTP ${res.status}`);
  const spec = (await res.json()).LoraLoader.input.required.lora_name;
  return Array.isArray(spec[0]) ? spec[0] : (spec[1]?.options ?? []);
}

/** Canvas coordinates of a client (window) point, on every frontend. */
export function toCanvasPos(app, clientX, clientY) {
  if (typeof app.clientPosToCanvasPos === "function") return app.clientPosToCanvasPos([clientX, clientY]);
  const canvas = app.canvas;
  if (typeof canvas?.convertEventToCanvasOffset === "function") {
    return canvas.convertEventToCanvasOffset({ clientX, clientY });
  }
  const rect = canvas.canvas.getBoundingClientRect();
  const { scale, offset } = canvas.ds;
  return [(clientX - rect.left) / scale - offset[0], (clientY - rect.top) / scale - offset[1]];
}

function viewCenter(app) {
  const el = app.canvas?.canvas;
  if (!el) return [0, 0];
  const r = el.getBoundingClientRect();
  const [x, y] = toCanvasPos(app, r.left + r.width / 3, r.top + r.height / 3);
  return [Math.round(x), Math.round(y)];
}

/** Add `spec` (graph_plan) chained after the selected MODEL node or the lone checkpoint loader. */
function insertSpec(app, LiteGraph, spec) {
  const graph = activeGraph(app);
  const nodes = snapshot(graph);
  const anchor = chooseAnchor(nodes, selectedIds(app.canvas));
  const box = anchor ? nodes.find((n) => n.id === anchor.node).box : null;
  const place = (widths) => placeRow(box, widths, viewCenter(app), nodes.map((n) => n.box));
  const made = applySpec(LiteGraph, graph, spec, place, anchor);
  app.canvas?.setDirty?.(true, true);
  return { nodes: made.map((n) => n.id), anchored: Boolean(anchor) };
}

const wiringNote = (r) => (r.anchored ? "" : " (not wired: select the node whose MODEL/CLIP they should take)");

/** The host object for `mountPanel` (see the module comment). */
export function makeComfyHost({ app, api, LiteGraph }) {
  const toast = (level, text) => showToast(app, level, text);
  const hasType = (type) => Boolean(LiteGraph?.registered_node_types?.[type]);

  async function insertPlan(plan) {
    const inspire = hasType(INSPIRE_LOADER) && readSetting(app, SETTING_USE_INSPIRE, true) !== false;
    const spec = planNodes(plan, await comfyLoraNames(api), { inspire });
    if (spec.unresolved.length) {
      toast("warning", `left out, not in ComfyUI's loras folders: ${spec.unresolved.join(", ")}`);
    }
    if (spec.unresolved.length === (plan?.loras?.length ?? 0)) {
      throw new Error("none of the plan's LoRAs is in ComfyUI's LoRA list");
    }
    const result = { ...insertSpec(app, LiteGraph, spec), unresolved: spec.unresolved, inspire };
    const what = inspire ? `${result.nodes.length} LoRA Loader (Block Weight) node(s)` : "Apply LoRA Plan with its planner";
    toast("success", `inserted ${what}${wiringNote(result)}`);
    return result;
  }

  async function addLoraToGraph(lora) {
    const name = itemLoraName(lora, await comfyLoraNames(api));
    if (!name) throw new Error(`${lora.lora_name ?? lora.rel ?? lora.name} is not in ComfyUI's LoRA list`);
    const strength = typeof lora.strength === "number" ? lora.strength : 1.0;
    const spec = { nodes: [{ type: PLAIN_LOADER, chain: true,
                             widgets: { lora_name: name, strength_model: strength, strength_clip: strength } }],
                   links: [] };
    const result = insertSpec(app, LiteGraph, spec);
    toast("success", `added LoraLoader ${name}${wiringNote(result)}`);
    return result;
  }

  /** A gallery card dropped at a client point: set the LoRA of the loader under it, else add a LoraLoader there. */
  async function dropLora(item, clientX, clientY) {
    const name = itemLoraName(item, await comfyLoraNames(api));
    if (!name) throw new Error(`${item.lora_name ?? item.rel ?? item.name} is not in ComfyUI's LoRA list`);
    const graph = activeGraph(app);
    const [x, y] = toCanvasPos(app, clientX, clientY);
    const under = graph.getNodeOnPos?.(x, y);
    if (under && under.widgets?.some((w) => w.name === "lora_name")) {
      setWidget(under, "lora_name", name);
      graph.setDirtyCanvas?.(true, true);
      return { node: under.id, replaced: true };
    }
    const node = createNode(LiteGraph, PLAIN_LOADER, [x, y], { lora_name: name });
    graph.add(node);
    graph.setDirtyCanvas?.(true, true);
    return { node: node.id, replaced: false };
  }

  /** The panel calls the graph actions from click handlers without awaiting them: failures become toasts. */
  const reported = (fn) => async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      toast("error", err?.message ?? String(err));
      return null;
    }
  };

  return {
    kind: "comfy",
    apiBase: API_BASE,
    subscribe(eventName, callback) {
      const listener = (e) => callback(e.detail);
      api.addEventListener(eventName, listener);
      return () => api.removeEventListener(eventName, listener);
    },
    toast,
    insertPlan: reported(insertPlan),
    addLoraToGraph: reported(addLoraToGraph),
    dropLora,
    graphLoras: () => lorasInGraph(snapshot(activeGraph(app))).map(({ name, strength }) => ({ name, strength })),
    getSetting: (id, fallback) => readSetting(app, id, fallback),
    setSetting: (id, value) => writeSetting(app, id, value),
  };
}
