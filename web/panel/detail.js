// One LoRA: classification, trigger words, metadata, the per-block energy chart, warnings, the
// config.yaml fields a person edits, and its preview actions. No side effects at import.

import { blockGroup, chartLegend, energyChart } from "./chart.js";
import { copyButton, errorBox, field, fmt, h } from "./dom.js";
import { dragPayload } from "./gallery.js";

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function row(label, value) {
  return value === null || value === undefined || value === "" ? null : h("div", { class: "la-kv" },
    h("dt", {}, label), h("dd", {}, Array.isArray(value) ? value.join(", ") : String(value)));
}

function warnings(d) {
  const out = [];
  if (d.error) out.push(d.error);
  if (d.config_error) out.push(d.config_error);
  for (const w of (d.classification && d.classification.warnings) || []) out.push(w);
  if (d.quarantined) out.push("This file is in the quarantine folder (see the library actions' results).");
  return out;
}

function classification(d) {
  const c = d.classification || {};
  return h("dl", { class: "la-meta" },
    row("Architecture", [c.architecture, c.variant].filter(Boolean).join(" · ")),
    row("Adapter", c.adapter ? `${c.adapter}${c.dora ? " (DoRA)" : ""}` : null),
    row("Base model", c.base_model_hint), row("Trained on", c.training_base), row("Role", d.role),
    row("Rank / alpha", c.rank != null ? `${c.rank} / ${fmt(c.alpha)}` : null),
    row("Modules", c.modules), row("Text encoders", c.text_encoder),
    row("Size", d.size != null ? `${fmt(d.size / 1048576, 1)} MiB` : null),
    row("Path", d.paths && d.paths.length > 1 ? d.paths : d.path),
    row("Evidence", c.evidence && c.evidence.length ? c.evidence.join("; ") : null));
}

function triggerWords(d, host) {
  const words = d.trigger_words || [];
  if (!words.length) return h("p", { class: "la-hint" }, "No trigger words known.");
  return h("div", { class: "la-triggers" },
    words.map((w) => h("code", { class: "la-trigger" }, w)),
    copyButton("Copy trigger words", () => words.join(", "), host));
}

function chartSection(a) {
  if (!a) return h("p", { class: "la-hint" }, "No analysis: the file could not be read as a LoRA.");
  const groups = [...new Set((a.blocks || []).map((b) => blockGroup(b.name)))];
  if (Object.keys(a.text_encoders || {}).length) groups.push("TE");
  const shares = Object.entries(a.groups || {}).map(([g, v]) => `${g} ${fmt(v.share * 100, 1)}%`);
  if (a.clip_share != null) shares.push(`text encoders ${fmt(a.clip_share * 100, 1)}%`);
  return h("section", { class: "la-chart-wrap", "aria-label": "Energy per block" },
    h("h3", {}, "Where it acts: energy per block"), energyChart(a), chartLegend(groups),
    h("p", { class: "la-hint" }, shares.join(" · ")));
}

function editor(d, ctx, rerender, notice) {
  const config = d.config || {};
  const name = h("input", { type: "text", value: config.name || d.name || "", name: "name" });
  const weight = h("input", { type: "number", step: "0.05", min: "-10", max: "10", value: String(d.default_weight ?? 1), name: "default_weight" });
  const tags = h("input", { type: "text", value: (config.tags || []).join(", "), name: "tags" });
  const words = h("input", { type: "text", value: (d.trigger_words || []).join(", "), name: "trigger_words" });
  const notes = h("textarea", { rows: "3", name: "notes" });
  notes.value = config.notes || "";
  const msg = h("div", { class: "la-status", role: "status", "aria-live": "polite" }, notice);
  const save = h("button", { type: "submit", class: "la-primary" }, "Save to config.yaml");
  const form = h("form", { class: "la-form", "aria-label": "Edit this LoRA's config.yaml" },
    field("Name", name), field("Default weight", weight), field("Tags (comma separated)", tags),
    field("Trigger words (comma separated)", words), field("Notes", notes), save, msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = {
      name: name.value.trim(), notes: notes.value, default_weight: Number(weight.value),
      tags: list(tags.value), trigger_words: list(words.value),
    };
    if (!fields.name) delete fields.name;
    save.disabled = true;
    msg.textContent = "Saving…";
    try {
      await ctx.services.editConfig(d.id, fields);
      ctx.host.toast("success", "Saved to config.yaml");
      await rerender("Saved to config.yaml.");
    } catch (err) {
      msg.textContent = `Not saved: ${err.message}`;
      msg.classList.add("la-error");
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

function previewActions(d, ctx) {
  const msg = h("span", { class: "la-status", role: "status", "aria-live": "polite" });
  const run = async () => {
    try {
      const { job } = await ctx.api.startJob("previews", { root: d.root, paths: [d.path] });
      msg.textContent = `Preview job ${job.id} started for this LoRA (see Library).`;
    } catch (err) {
      msg.textContent = `Previews: ${err.message}`;
    }
  };
  return h("div", { class: "la-row" },
    h("button", { type: "button", onclick: run, "aria-label": "Render this LoRA's preview" }, "Render preview"),
    msg);
}

/** The detail view of `item` into `container` (replacing what it held). */
export async function renderDetail(container, item, ctx, notice = null) {
  const rerender = (text) => renderDetail(container, item, ctx, text);
  if (!notice) container.replaceChildren(h("p", { class: "la-status" }, `Loading ${item.name}…`));
  let d;
  try {
    d = await ctx.services.detail(item.id);
  } catch (err) {
    container.replaceChildren(errorBox(`Could not load ${item.name}: ${err.message}`));
    return;
  }
  const img = d.preview_url ? h("img", { class: "la-preview", src: ctx.api.previewUrl(d.id), alt: `Preview of ${d.name}` }) : null;
  const warn = warnings(d);
  const buttons = [h("button", { type: "button", class: "la-primary", onclick: () => ctx.onAddToPlan(d) }, "Add to plan")];
  if (ctx.host.addLoraToGraph) {
    buttons.push(h("button", { type: "button", onclick: () => ctx.host.addLoraToGraph(dragPayload(d)) }, "Add to graph"));
  }
  if (d.civitai_url) buttons.push(h("a", { href: d.civitai_url, target: "_blank", rel: "noopener" }, "Civitai"));
  container.replaceChildren(h("article", { class: "la-detail", "aria-label": `Details of ${d.name}` },
    h("header", { class: "la-detail-head" }, img, h("div", {},
      h("h2", {}, d.name), h("div", { class: "la-tags" },
        [d.architecture, d.adapter, d.role, d.base_model_hint].filter(Boolean).map((t) => h("span", { class: "la-tag" }, t))),
      h("div", { class: "la-row" }, buttons))),
    warn.length ? h("ul", { class: "la-warnings", "aria-label": "Warnings" }, warn.map((w) => h("li", {}, w))) : null,
    h("h3", {}, "Trigger words"), triggerWords(d, ctx.host),
    chartSection(d.analysis),
    h("h3", {}, "Classification"), classification(d),
    h("h3", {}, "Edit"), editor(d, ctx, rerender, notice),
    h("h3", {}, "Preview"), previewActions(d, ctx)));
}
