// LoRA Atlas in ComfyUI: the pack's only extension entry (every other .js under web/ only exports).
// It registers a sidebar tab that mounts the panel of web/panel/app.js with the ComfyUI host
// (web/comfy/host.js), a setting, the pack's socket events and the canvas drop of gallery cards.
// ComfyUI serves web/ under /extensions/<folder name>/, so the panel is found from import.meta.url.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { installCanvasDrop } from "./comfy/drop.js";
import { EVENTS, SETTING_USE_INSPIRE, makeComfyHost } from "./comfy/host.js";
import { PANEL_MARK, registerTab } from "./comfy/sidebar.js";

const PANEL_URL = new URL("./panel/app.js", import.meta.url).href;

app.registerExtension({
  name: "LoRA.Atlas",
  settings: [{
    id: SETTING_USE_INSPIRE,
    category: ["LoRA Atlas", "Insert", "Inspire"],
    name: "Insert plans as Inspire \"LoRA Loader (Block Weight)\" nodes (else Apply LoRA Plan)",
    tooltip: "Used when the Inspire Pack is installed; without it a plan is always inserted as Apply LoRA Plan.",
    type: "boolean",
    defaultValue: true,
  }],
  setup() {
    // Custom socket messages are dispatched only to registered listeners; without one the frontend
    // logs "Unknown message type" for every event the pack sends while the panel is closed.
    for (const type of EVENTS) api.addEventListener(type, () => {});
    const host = makeComfyHost({ app, api, LiteGraph: globalThis.LiteGraph });
    registerTab(app, host, () => import(PANEL_URL));
    installCanvasDrop(document, {
      onDrop: host.dropLora,
      onError: (err) => host.toast("error", err?.message ?? String(err)),
      insidePanel: (target) => Boolean(target?.closest?.(`[${PANEL_MARK}]`)),
    });
  },
});
