// Library actions: check, organize, reconcile, undo and previews as background jobs, their
// progress from the server's job events, and their results (moves, quarantined files with the
// reason). No side effects at import.

import { EVENT_JOB } from "./api.js";
import { errorBox, h, select } from "./dom.js";

export const ACTIONS = [
  ["check", "Check", "what organize would do; changes nothing"],
  ["organize", "Organize", "a folder and config.yaml per LoRA, bad files quarantined (journaled, undoable)"],
  ["reconcile", "Reconcile", "compare the store with the disk"],
  ["undo", "Undo", "put the last organize back"],
  ["previews", "Previews", "list (or render, with servers configured) the missing previews"],
];

/** The moves and quarantined files of a job's result (organize, clean, check). */
export function resultItems(result) {
  const plan = result && result.plan;
  return plan && Array.isArray(plan.items) ? plan.items : [];
}

export class LibraryActions {
  /** ctx: {api, host, settings} */
  constructor(ctx) {
    this.ctx = ctx;
    this.jobs = new Map();            // id -> {job, el}
    this.root = 0;
    this.el = h("section", { class: "la-actions", "aria-label": "Library actions" });
    this.list = h("div", { class: "la-jobs", "aria-live": "polite" });
    if (ctx.host.subscribe) this.unsubscribe = ctx.host.subscribe(EVENT_JOB, (job) => this.update(job));
  }

  render() {
    const roots = (this.ctx.settings && this.ctx.settings.roots) || [{ index: 0, path: "library" }];
    const rootSelect = select(roots.map((r) => [String(r.index), r.path]), String(this.root),
      { "aria-label": "LoRA root", onchange: (e) => { this.root = Number(e.target.value); } });
    const buttons = ACTIONS.map(([action, label, why]) => h("button", {
      type: "button", title: why, "aria-label": `${label}: ${why}`, "data-action": action,
      onclick: () => this.start(action),
    }, label));
    this.el.replaceChildren(h("h2", {}, "Library"), h("div", { class: "la-row" }, rootSelect),
      h("div", { class: "la-row la-wrap" }, buttons), this.list);
    this.refresh();
  }

  async refresh() {
    try {
      const { jobs } = await this.ctx.api.listJobs();
      for (const job of jobs.slice(-10)) this.update(job);
    } catch (_) { /* the list stays as it is */ }
  }

  async start(action) {
    try {
      const { job } = await this.ctx.api.startJob(action, { root: this.root });
      this.update(job);
      this.poll(job.id);
    } catch (err) {
      this.list.prepend(errorBox(`${action}: ${err.message}`));
    }
  }

  /** Events carry progress; a poll until the job ends covers a host whose events are lost. */
  async poll(id) {
    for (let i = 0; i < 600; i++) {
      const entry = this.jobs.get(id);
      if (!entry || entry.job.state === "done" || entry.job.state === "failed") return;
      await new Promise((r) => setTimeout(r, 1000));
      if (!this.el.isConnected && i > 5) return;
      try { this.update(await this.ctx.api.getJob(id)); } catch (_) { return; }
    }
  }

  update(job) {
    if (!job || job.id === undefined) return;
    let entry = this.jobs.get(job.id);
    if (!entry) {
      entry = { job, el: h("div", { class: "la-job", "data-job": job.id }) };
      this.jobs.set(job.id, entry);
      this.list.prepend(entry.el);
    }
    entry.job = job;
    entry.el.dataset.state = job.state;
    const p = job.progress;
    const bar = h("progress", { max: p && p.total ? p.total : 1, value: job.state === "done" ? (p && p.total ? p.total : 1) : (p ? p.done : 0),
      "aria-label": `${job.action} progress` });
    const label = p ? `${p.phase} ${p.done}/${p.total}${p.path ? ` · ${p.path}` : ""}` : "";
    entry.el.replaceChildren(...[h("div", { class: "la-row" }, h("strong", {}, `#${job.id} ${job.action}`),
      h("span", { class: `la-state la-${job.state}` }, job.state), bar, h("small", { class: "la-hint" }, label)),
    job.error ? errorBox(job.error) : null, job.result ? this.result(job) : null].filter(Boolean));
  }

  result(job) {
    const items = resultItems(job.result);
    const moves = items.filter((it) => it.action !== "quarantine");
    const bad = items.filter((it) => it.action === "quarantine");
    const problems = job.result.problems || [];
    const table = (rows, head) => h("table", { class: "la-table" },
      h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c ?? ""))))));
    return h("details", { class: "la-result", open: true },
      h("summary", {}, `${moves.length} move(s), ${bad.length} quarantined, ${problems.length} problem(s)`),
      moves.length ? table(moves.map((m) => [m.path, m.dest, m.failed]), ["From", "To", "Failed"]) : null,
      bad.length ? table(bad.map((m) => [m.path, m.detail]), ["Quarantined", "Reason"]) : null,
      problems.length ? h("ul", { class: "la-warnings" }, problems.map((p) => h("li", {}, typeof p === "string" ? p : JSON.stringify(p)))) : null,
      h("details", {}, h("summary", {}, "Full report"),
        h("pre", { class: "la-json" }, JSON.stringify(job.result, null, 1).slice(0, 20000))));
  }
}
