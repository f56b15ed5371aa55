// The plan builder: pick LoRAs and strengths, choose policy, headroom, role order, profiles and a
// template, ask POST /plan, and show per-LoRA strengths and block vectors with copy buttons, the
// stack's energy before and after, and warnings; save, load, history and export. No side effects.

import { planChart } from "./chart.js";
import { copyButton, errorBox, field, fill, fmt, h, select } from "./dom.js";

const EXPORTS = ["json", "csv", "text", "inspire", "a1111"];

export class PlanBuilder {
  /** ctx: {api, host, settings} */
  constructor(ctx) {
    this.ctx = ctx;
    const s = ctx.settings || {};
    this.picked = [];                 // [{id, name, strength_model, strength_clip, profile}]
    this.options = { policy: s.default_policy || "balanced", headroom: s.default_headroom ?? 0.5,
      role_order: (s.role_order || []).join(", "), template: "" };
    this.profiles = {};
    this.templates = [];
    this.plan = null;
    this.el = h("section", { class: "la-plan", "aria-label": "Plan builder" });
  }

  add(item) {
    if (!this.picked.some((p) => p.id === item.id)) {
      this.picked.push({ id: item.id, name: item.name, strength_model: item.default_weight ?? 1, strength_clip: "", profile: "" });
    }
    this.ctx.host.toast("info", `${item.name} is in the plan (${this.picked.length})`);
    this.render();
  }

  async loadLists() {
    try {
      const [p, t] = await Promise.all([this.ctx.api.listProfiles(), this.ctx.api.listTemplates()]);
      this.profiles = p.profiles || {};
      this.templates = (t.templates || []).map((x) => (typeof x === "string" ? x : x.name));
    } catch (_) { /* lists stay empty; the plan still works */ }
  }

  request() {
    const o = this.options;
    const body = {
      loras: this.picked.map((p) => {
        const entry = { id: p.id, strength_model: Number(p.strength_model) };
        if (p.strength_clip !== "" && p.strength_clip !== null) entry.strength_clip = Number(p.strength_clip);
        if (p.profile) entry.profile = p.profile;
        return entry;
      }),
      policy: o.policy, headroom: Number(o.headroom),
    };
    const order = o.role_order.split(",").map((r) => r.trim()).filter(Boolean);
    if (order.length) body.role_order = order;
    if (o.template) body.template = o.template;
    return body;
  }

  render() {
    const s = this.ctx.settings || {};
    const o = this.options;
    const rows = this.picked.map((p, i) => {
      const num = (key, label) => {
        const input = h("input", { type: "number", step: "0.05", value: String(p[key]), "aria-label": `${label} of ${p.name}`,
          class: "la-num", placeholder: key === "strength_clip" ? "auto" : "1" });
        input.addEventListener("change", () => { p[key] = input.value; });
        return input;
      };
      const profile = select([["", "no profile"], ...Object.keys(this.profiles).sort()], p.profile,
        { "aria-label": `Profile of ${p.name}`, onchange: (e) => { p.profile = e.target.value; } });
      return h("tr", {}, h("td", {}, p.name), h("td", {}, num("strength_model", "Model strength")),
        h("td", {}, num("strength_clip", "CLIP strength")), h("td", {}, profile),
        h("td", {}, h("button", { type: "button", class: "la-mini", "aria-label": `Remove ${p.name} from the plan`,
          onclick: () => { this.picked.splice(i, 1); this.render(); } }, "×")));
    });
    const graph = this.ctx.host.graphLoras ? h("button", { type: "button", onclick: () => this.fromGraph() },
      "Take LoRAs from the workflow") : null;
    const policy = select(s.policies || ["none", "balanced", "role-priority"], o.policy,
      { onchange: (e) => { o.policy = e.target.value; }, name: "policy" });
    const headroom = h("input", { type: "number", step: "0.05", min: "0", value: String(o.headroom), name: "headroom",
      onchange: (e) => { o.headroom = e.target.value; } });
    const order = h("input", { type: "text", value: o.role_order, name: "role_order",
      onchange: (e) => { o.role_order = e.target.value; } });
    const template = select([["", "no template"], ...this.templates], o.template,
      { onchange: (e) => { o.template = e.target.value; }, name: "template" });
    const build = h("button", { type: "button", class: "la-primary", disabled: !this.picked.length,
      onclick: () => this.build() }, "Build plan");
    this.result = this.result || h("div", { class: "la-plan-result", "aria-live": "polite" });
    this.saved = this.saved || h("div", { class: "la-saved" });
    this.el.replaceChildren(
      h("h2", {}, "Plan a stack"),
      this.picked.length ? h("table", { class: "la-table" },
        h("thead", {}, h("tr", {}, ["LoRA", "Model", "CLIP", "Profile", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))
        : h("p", { class: "la-hint" }, "Add LoRAs with “+ plan” in the gallery or the detail."),
      h("div", { class: "la-row" }, graph),
      h("div", { class: "la-grid2" }, field("Policy", policy), field("Headroom", headroom),
        field("Role order", order, "first keeps the most"), field("Template", template)),
      h("div", { class: "la-row" }, build), this.result, this.saved);
    this.renderSaved();
  }

  fromGraph() {
    const loras = this.ctx.host.graphLoras() || [];
    const missing = [];
    (async () => {
      for (const l of loras) {
        const doc = await this.ctx.api.listLoras({ q: l.name.replace(/\\/g, "/"), limit: 5 });
        const hit = doc.items.find((it) => it.path === l.name.replace(/\\/g, "/")) || doc.items[0];
        if (hit) this.picked.push({ id: hit.id, name: hit.name, strength_model: l.strength ?? 1, strength_clip: "", profile: "" });
        else missing.push(l.name);
      }
      if (missing.length) this.ctx.host.toast("warn", `Not in the library: ${missing.join(", ")}`);
      this.render();
    })();
  }

  async build() {
    this.result.replaceChildren(h("p", { class: "la-status" }, "Planning…"));
    try {
      this.plan = await this.ctx.api.plan(this.request());
      this.showPlan(this.plan);
      this.renderSaved();
    } catch (err) {
      this.result.replaceChildren(errorBox(`No plan: ${err.message}`));
    }
  }

  showPlan(plan) {
    const host = this.ctx.host;
    const cards = (plan.loras || []).map((l) => {
      const name = l.path.split(/[\\/]/).pop();
      return h("div", { class: "la-plan-lora" },
        h("h4", {}, name, h("span", { class: "la-tag" }, l.role || "no role")),
        h("div", { class: "la-row" }, h("span", {}, `model ${fmt(l.strength_model, 4)}`),
          copyButton("Copy", () => fmt(l.strength_model, 4), host, `Copy strength_model of ${name}`),
          h("span", {}, `clip ${fmt(l.strength_clip, 4)}`),
          copyButton("Copy", () => fmt(l.strength_clip, 4), host, `Copy strength_clip of ${name}`)),
        h("div", { class: "la-row" }, h("code", { class: "la-vector" }, l.block_vector),
          copyButton("Copy vector", () => l.block_vector, host, `Copy block vector of ${name}`)),
        l.a1111 && l.a1111.prompt ? h("div", { class: "la-row" }, h("code", { class: "la-vector" }, l.a1111.prompt),
          copyButton("Copy A1111", () => l.a1111.prompt, host, `Copy A1111 prompt of ${name}`)) : null,
        (l.notes || []).length ? h("ul", { class: "la-warnings" }, l.notes.map((n) => h("li", {}, n))) : null);
    });
    const insert = host.insertPlan ? h("button", { type: "button", class: "la-primary",
      onclick: () => host.insertPlan(plan) }, "Insert into workflow") : null;
    const name = h("input", { type: "text", placeholder: "plan name", "aria-label": "Name to save the plan as" });
    const save = h("button", { type: "button", onclick: async () => {
      try {
        await this.ctx.api.savePlan(name.value.trim() || "plan", this.request());
        host.toast("success", "Plan saved");
        this.renderSaved();
      } catch (err) { host.toast("error", `Not saved: ${err.message}`); }
    } }, "Save");
    fill(this.result,
      h("h3", {}, `Plan (${plan.policy}, headroom ${fmt(plan.headroom)}, ${plan.architecture || "?"})`),
      (plan.warnings || []).length ? h("ul", { class: "la-warnings", "aria-label": "Plan warnings" },
        plan.warnings.map((w) => h("li", {}, w))) : null,
      h("div", { class: "la-row" }, insert, name, save,
        copyButton("Copy plan JSON", () => JSON.stringify(plan, null, 2), host)),
      ...cards, h("h3", {}, "Energy per block: before and after"), planChart(plan));
  }

  async renderSaved() {
    const api = this.ctx.api;
    try {
      const [{ plans }, { history }] = await Promise.all([api.listPlans(), api.planHistory(10)]);
      const savedRows = (plans || []).map((p) => h("li", {}, `${p.name} `,
        h("button", { type: "button", class: "la-mini", onclick: () => this.load(p.id) }, "Load"),
        select(EXPORTS.map((f) => [f, `export ${f}`]), "json", { "aria-label": `Export format of ${p.name}`,
          onchange: (e) => window.open(api.exportUrl(p.id, e.target.value), "_blank") }),
        h("button", { type: "button", class: "la-mini", "aria-label": `Delete ${p.name}`,
          onclick: async () => { await api.deletePlan(p.id); this.renderSaved(); } }, "Delete")));
      const historyRows = (history || []).map((e) => h("li", {},
        `${e.created_at} · ${e.policy} · ${(e.loras || []).map((p) => p.split(/[\\/]/).pop()).join(", ")} `,
        h("button", { type: "button", class: "la-mini", onclick: () => this.loadHistory(e.id) }, "Show")));
      this.saved.replaceChildren(h("h3", {}, "Saved plans"),
        savedRows.length ? h("ul", { class: "la-list" }, savedRows) : h("p", { class: "la-hint" }, "None yet."),
        h("h3", {}, "History"), historyRows.length ? h("ul", { class: "la-list" }, historyRows) : h("p", { class: "la-hint" }, "None yet."));
    } catch (err) {
      this.saved.replaceChildren(errorBox(`Saved plans: ${err.message}`));
    }
  }

  async load(pid) {
    try {
      const saved = await this.ctx.api.getPlan(pid);
      this.plan = saved.plan;
      this.showPlan(saved.plan);
    } catch (err) { this.ctx.host.toast("error", err.message); }
  }

  async loadHistory(hid) {
    try {
      const entry = await this.ctx.api.historyEntry(hid);
      if (entry.plan) { this.plan = entry.plan; this.showPlan(entry.plan); }
    } catch (err) { this.ctx.host.toast("error", err.message); }
  }
}
