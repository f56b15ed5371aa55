// The panel: gallery, detail, plan builder and library actions, mounted into any element by any
// host (ComfyUI's sidebar tab, the page of `lora-atlas serve`). Importing this module does
// nothing; `mountPanel` does everything, and calling it again on the same container shows the
// same panel again (never a second one).

import { makeApi } from "./api.js";
import { renderDetail } from "./detail.js";
import { errorBox, h } from "./dom.js";
import { Gallery } from "./gallery.js";
import { LibraryActions } from "./actions.js";
import { PlanBuilder } from "./plan.js";
import { LoraService } from "./services.js";
import { CSS } from "./styles.js";

const MOUNTED = new WeakMap();          // container -> panel
const TAB_SETTING = "LoraAtlas.Panel.Tab";      // the tab shown last (host.getSetting / setSetting)

const NO_HOST = {
  kind: "serve", apiBase: "/lora-atlas", subscribe: () => () => {}, toast: () => {},
  insertPlan: null, addLoraToGraph: null, graphLoras: null, getSetting: (id, d) => d, setSetting: () => {},
};

/** The host with a default for each member it lacks (its own methods keep their `this`). */
function withDefaults(host) {
  const merged = Object.create(host || {});
  for (const [k, v] of Object.entries(NO_HOST)) if (!(k in merged)) merged[k] = v;
  return merged;
}

/** Show the panel in `container` for `host` (see web/README.md for the host object). */
export function mountPanel(container, host) {
  try {
    const existing = MOUNTED.get(container);
    if (existing && existing.host === host) {
      if (!container.contains(existing.root)) container.replaceChildren(existing.root);
      existing.refresh();
      return existing;
    }
    if (existing) existing.close();
    const panel = new Panel(container, withDefaults(host), host);
    MOUNTED.set(container, panel);
    return panel;
  } catch (err) {
    container.replaceChildren(errorBox(`LoRA Atlas panel failed: ${err && err.message ? err.message : err}`));
    return null;
  }
}

class Panel {
  constructor(container, host, given) {
    this.host = given;
    this.h = host;
    this.api = makeApi(host.apiBase || "/lora-atlas");
    this.root = h("div", { class: "lora-atlas" }, h("style", {}, CSS));
    this.body = h("div", { class: "la-view" }, h("p", { class: "la-status" }, "Loading LoRA Atlas…"));
    this.root.appendChild(this.body);
    container.replaceChildren(this.root);
    this.start().catch((err) => this.body.replaceChildren(errorBox(`LoRA Atlas could not start: ${err.message}`)));
  }

  async start() {
    const settings = await this.api.settings();
    const host = this.h;
    this.services = new LoraService(this.api, host);
    const ctx = {
      api: this.api, host, settings, services: this.services,
      onOpen: (item) => this.openDetail(item), onAddToPlan: (item) => this.plan.add(item),
    };
    this.ctx = ctx;
    this.gallery = new Gallery(ctx);
    this.plan = new PlanBuilder(ctx);
    this.actions = new LibraryActions(ctx);
    this.views = {
      gallery: h("div", { class: "la-view la-gallery-view", role: "tabpanel", id: "la-panel-gallery" }, this.gallery.el),
      detail: h("div", { class: "la-view", role: "region", "aria-label": "LoRA detail" }),
      plan: h("div", { class: "la-view", role: "tabpanel", id: "la-panel-plan" }, this.plan.el),
      library: h("div", { class: "la-view", role: "tabpanel", id: "la-panel-library" }, this.actions.el),
    };
    this.tabs = {};
    const tablist = h("div", { class: "la-tabs", role: "tablist", "aria-label": "LoRA Atlas" },
      [["gallery", "Gallery"], ["plan", "Plan"], ["library", "Library"]].map(([id, label]) => {
        const tab = h("button", { type: "button", role: "tab", id: `la-tab-${id}`, "aria-controls": `la-panel-${id}`,
          onclick: () => this.show(id) }, label);
        this.tabs[id] = tab;
        return tab;
      }));
    tablist.addEventListener("keydown", (e) => {
      const order = ["gallery", "plan", "library"];
      const i = order.indexOf(this.current === "detail" ? "gallery" : this.current);
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const next = order[(i + (e.key === "ArrowRight" ? 1 : 2)) % 3];
        this.show(next);
        this.tabs[next].focus();
      }
    });
    this.root.replaceChildren(this.root.firstChild, tablist, ...Object.values(this.views));
    this.root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.current === "detail") this.backToGallery();
    });
    let tab = "gallery";
    try { tab = host.getSetting(TAB_SETTING, "gallery"); } catch (_) { /* a host without that setting */ }
    this.show(["gallery", "plan", "library"].includes(tab) ? tab : "gallery");
    this.gallery.reload();
    this.plan.loadLists().then(() => this.plan.render());
    this.actions.render();
  }

  show(view) {
    this.current = view;
    if (view !== "detail") {
      try { this.h.setSetting(TAB_SETTING, view); } catch (_) { /* a host without that setting */ }
    }
    for (const [id, el] of Object.entries(this.views)) el.hidden = id !== view;
    for (const [id, tab] of Object.entries(this.tabs)) {
      const on = id === view || (view === "detail" && id === "gallery");
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
    }
    if (view === "gallery" && this.gallery) requestAnimationFrame(() => this.gallery.paint());
  }

  async openDetail(item) {
    const back = h("button", { type: "button", class: "la-back", onclick: () => this.backToGallery(),
      "aria-label": "Back to the gallery (Escape)" }, "← Gallery");
    const body = h("div");
    this.views.detail.replaceChildren(back, body);
    this.show("detail");
    await renderDetail(body, item, this.ctx);
    back.focus();
  }

  /** From the detail back to the grid, the card it came from focused (keyboard users stay put). */
  backToGallery() {
    this.show("gallery");
    requestAnimationFrame(() => this.gallery.focus(this.gallery.focusIndex));
  }

  refresh() {
    if (this.gallery) this.gallery.paint();
  }

  close() {
    if (this.services) this.services.close();
    if (this.actions && this.actions.unsubscribe) this.actions.unsubscribe();
  }
}
