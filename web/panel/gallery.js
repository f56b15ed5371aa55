// The gallery: a windowed grid over the whole listing. Only the rows in view (plus a few above
// and below) exist in the DOM, whatever the library's size; pages of the listing are fetched as
// they scroll into view. Cards are draggable onto ComfyUI's canvas. No side effects at import.

import { field, h, select } from "./dom.js";

export const CARD_W = 168;
export const CARD_H = 232;
const OVERSCAN = 1;                  // rows rendered above and below the visible ones
const BASE_HINTS = ["noobai", "illustrious", "pony", "animagine", "sdxl_base"];
const SORTS = [["path", "Path"], ["name", "Name A–Z"], ["-name", "Name Z–A"], ["architecture", "Architecture"],
  ["adapter", "Adapter"], ["role", "Role"], ["-size", "Largest"], ["size", "Smallest"]];
export const DRAG_TYPE = "application/x-lora-atlas";

/** What a drop on ComfyUI's canvas receives (the loras folder is the LoRA root: paths use '/'). */
export function dragPayload(item) {
  return { id: item.id, name: item.name, rel: item.path, lora_name: item.path };
}

export function badges(item) {
  const out = [];
  if (!item.ok) out.push(["error", item.error || "unreadable"]);
  if (item.quarantined) out.push(["quarantined", "in the quarantine folder"]);
  return out;
}

/** Civitai's NSFW level (1 PG, 2 PG-13, 4 R, 8 X, 16 XXX) or flag, from the LoRA's config.yaml. */
export function isNsfw(item) {
  return item.nsfw === true || (typeof item.nsfw_level === "number" && item.nsfw_level >= 4);
}

export class Gallery {
  /** ctx: {services, api, host, onOpen(item), onAddToPlan(item), settings} */
  constructor(ctx) {
    this.ctx = ctx;
    this.filters = { sort: "path" };
    this.win = null;
    this.cards = new Map();          // index -> element
    this.focusIndex = 0;
    this.token = 0;
    this.el = h("section", { class: "la-gallery", "aria-label": "LoRA gallery" });
    this.status = h("div", { class: "la-status", role: "status", "aria-live": "polite" });
    this.spacer = h("div", { class: "la-spacer" });
    this.scroller = h("div", {
      class: "la-scroller", role: "list", tabindex: "0", "aria-label": "LoRAs (arrow keys move, Enter opens)",
    }, this.spacer);
    this.el.append(this.toolbar(), this.status, this.scroller);
    let pending = false;
    this.scroller.addEventListener("scroll", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.paint(); });
    });
    this.scroller.addEventListener("keydown", (e) => this.onKey(e));
    if (typeof ResizeObserver !== "undefined") {
      this.resize = new ResizeObserver(() => this.paint());
      this.resize.observe(this.scroller);
    }
    ctx.services.onChange(() => this.reload(false));      // the library changed: same place, fresh cards
  }

  toolbar() {
    const f = this.filters;
    const set = (k) => (e) => { f[k] = e.target.value; this.reload(true); };
    const search = h("input", { type: "search", placeholder: "Search names, paths, trigger words", class: "la-search" });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { f.q = search.value.trim(); this.reload(true); }, 180);
    });
    const any = (label) => [["", label]];
    const yesNo = (label) => [["", label], ["1", "yes"], ["0", "no"]];
    const settings = this.ctx.settings || {};        // GET /settings: the server's own lists
    const roles = settings.role_order || ["characters", "concepts", "poses", "styles"];
    const tag = h("input", { type: "search", placeholder: "tag", class: "la-tag-filter", name: "tag" });
    tag.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { f.tag = tag.value.trim(); this.reload(true); }, 180);
    });
    const controls = [
      field("Search", search),
      field("Architecture", select(any("any").concat(settings.architectures || []), "", { onchange: set("architecture"), name: "architecture" })),
      field("Adapter", select(any("any").concat(settings.adapters || []), "", { onchange: set("adapter"), name: "adapter" })),
      field("Role", select(any("any").concat(roles), "", { onchange: set("role"), name: "role" })),
      field("Tag", tag),
      field("Base model", select(any("any").concat(BASE_HINTS), "", { onchange: set("base_model_hint"), name: "base_model_hint" })),
      field("Preview", select(yesNo("any"), "", { onchange: set("has_preview"), name: "has_preview" })),
      field("Usable", select(yesNo("any"), "", { onchange: set("ok"), name: "ok" })),
      field("Quarantined", select(yesNo("any"), "", { onchange: set("quarantined"), name: "quarantined" })),
      field("Sort", select(SORTS, "path", { onchange: set("sort"), name: "sort" })),
    ];
    this.search = search;
    return h("div", { class: "la-toolbar", role: "search" }, controls);
  }

  /** Fetch the listing again; `fromTop` for a new search or filter, else the scroll position stays. */
  async reload(fromTop = true) {
    const token = ++this.token;
    this.status.textContent = "Loading…";
    try {
      const win = await this.ctx.services.window(this.filters);
      if (token !== this.token) return;
      this.win = win;
      this.clearCards();
      if (fromTop) {
        this.scroller.scrollTop = 0;
        this.focusIndex = 0;
      }
      this.status.textContent = `${win.total} LoRA${win.total === 1 ? "" : "s"}`;
      this.paint();
    } catch (err) {
      if (token !== this.token) return;
      this.status.textContent = `Could not load the listing: ${err.message}`;
      this.status.classList.add("la-error");
    }
  }

  clearCards() {
    for (const el of this.cards.values()) el.remove();
    this.cards.clear();
  }

  columns() {
    return Math.max(1, Math.floor((this.scroller.clientWidth || CARD_W) / CARD_W));
  }

  /** Render the cards of the visible rows; fetch their pages when not loaded yet. */
  paint() {
    const win = this.win;
    if (!win) return;
    const cols = this.columns();
    if (cols !== this.cols) { this.cols = cols; this.clearCards(); }
    const rows = Math.ceil(win.total / cols);
    this.spacer.style.height = `${rows * CARD_H}px`;
    const top = this.scroller.scrollTop, view = this.scroller.clientHeight || 600;
    const firstRow = Math.max(0, Math.floor(top / CARD_H) - OVERSCAN);
    const lastRow = Math.min(rows, Math.ceil((top + view) / CARD_H) + OVERSCAN);
    const from = firstRow * cols, to = Math.min(win.total, lastRow * cols);
    for (const [i, el] of this.cards) if (i < from || i >= to) { el.remove(); this.cards.delete(i); }
    let missing = false;
    const colW = Math.floor((this.scroller.clientWidth || CARD_W) / cols);
    for (let i = from; i < to; i++) {
      const item = win.get(i);
      let el = this.cards.get(i);
      if (el && el.dataset.id === (item ? item.id : "")) continue;
      if (!item) missing = true;
      const card = item ? this.card(item, i) : h("div", { class: "la-card la-placeholder", "aria-hidden": "true" });
      card.dataset.id = item ? item.id : "";
      card.style.transform = `translate(${(i % cols) * colW}px, ${Math.floor(i / cols) * CARD_H}px)`;
      card.style.width = `${colW - 8}px`;
      if (el) el.replaceWith(card); else this.spacer.appendChild(card);
      this.cards.set(i, card);
    }
    if (missing) {
      const token = this.token;
      win.ensure(from, to).then(() => { if (token === this.token) this.paint(); },
        (err) => { this.status.textContent = `Could not load the listing: ${err.message}`; });
    }
  }

  card(item, index) {
    const { api, host } = this.ctx;
    const thumb = item.has_preview
      ? h("img", { src: api.previewUrl(item.id), loading: "lazy", decoding: "async", alt: "", draggable: "false",
        class: isNsfw(item) ? "la-nsfw" : null, title: isNsfw(item) ? "NSFW (from Civitai's level): hover to see" : null })
      : h("div", { class: "la-noimg", "aria-hidden": "true" }, item.ok ? (item.architecture || "?").toUpperCase() : "not usable");
    const tags = [item.architecture, item.adapter, item.role, ...(item.tags || []).slice(0, 3)].filter(Boolean)
      .map((t) => h("span", { class: "la-tag" }, t));
    const warn = badges(item).map(([label, title]) => h("span", { class: "la-badge", title }, label));
    const actions = [h("button", {
      type: "button", class: "la-mini", "aria-label": `Add ${item.name} to the plan`, title: "Add to plan",
      onclick: (e) => { e.stopPropagation(); this.ctx.onAddToPlan(item); },
    }, "+ plan")];
    if (host.addLoraToGraph) {
      actions.push(h("button", {
        type: "button", class: "la-mini", "aria-label": `Add ${item.name} to the graph`,
        onclick: (e) => { e.stopPropagation(); host.addLoraToGraph(dragPayload(item)); },
      }, "Add to graph"));
    }
    const card = h("div", {
      class: "la-card", role: "listitem", tabindex: index === this.focusIndex ? "0" : "-1", draggable: "true",
      "aria-label": `${item.name}, ${[item.architecture, item.adapter, item.role].filter(Boolean).join(", ")}`,
      "data-index": index,
      onclick: () => { this.focusIndex = index; this.ctx.onOpen(item); },
      ondragstart: (e) => {
        e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(dragPayload(item)));
        e.dataTransfer.setData("text/plain", item.path);
        e.dataTransfer.effectAllowed = "copy";
      },
    }, h("div", { class: "la-thumb" }, thumb), h("div", { class: "la-name", title: item.path }, item.name),
    h("div", { class: "la-tags" }, tags, warn), h("div", { class: "la-card-actions" }, actions));
    return card;
  }

  onKey(e) {
    if (!this.win || !this.win.total) return;
    const cols = this.columns(), pageRows = Math.max(1, Math.floor(this.scroller.clientHeight / CARD_H));
    const moves = {
      ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols,
      PageDown: cols * pageRows, PageUp: -cols * pageRows,
    };
    let next = this.focusIndex;
    if (e.key in moves) next += moves[e.key];
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = this.win.total - 1;
    else if (e.key === "Enter" || e.key === " ") {
      const item = this.win.get(this.focusIndex);
      if (item) { e.preventDefault(); this.ctx.onOpen(item); }
      return;
    } else return;
    e.preventDefault();
    this.focus(Math.min(this.win.total - 1, Math.max(0, next)));
  }

  focus(index) {
    this.focusIndex = index;
    const row = Math.floor(index / this.columns());
    const top = row * CARD_H, st = this.scroller.scrollTop, view = this.scroller.clientHeight;
    if (top < st) this.scroller.scrollTop = top;
    else if (top + CARD_H > st + view) this.scroller.scrollTop = top + CARD_H - view;
    this.paint();
    for (const [i, el] of this.cards) el.tabIndex = i === index ? 0 : -1;
    const el = this.cards.get(index);
    if (el && el.classList.contains("la-card")) el.focus({ preventScroll: true });
  }
}
