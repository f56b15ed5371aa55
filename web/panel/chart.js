// The per-block energy charts (SVG, no library): where a LoRA acts and how hard, and a plan's
// energy per block before and after its strengths. No side effects at import.

import { fmt, svg } from "./dom.js";

const GROUP_COLORS = {
  BASE: "#8a8f98", IN: "#4f8fe6", MID: "#a46ee0", OUT: "#e8953a",
  DOUBLE: "#2fb3a6", SINGLE: "#6cbf4a", TE: "#e0607e", OTHER: "#8a8f98",
};

export function blockGroup(name) {
  const m = /^(BASE|IN|MID|OUT|DOUBLE|SINGLE)/.exec(name || "");
  return m ? m[1] : "OTHER";
}

const GROUP_ORDER = ["BASE", "IN", "MID", "OUT", "DOUBLE", "SINGLE", "OTHER", "TE"];

/** Blocks in the model's order: BASE, IN0.., MID, OUT0.., DOUBLE0.., SINGLE0.., text encoders. */
export function compareBlocks(a, b) {
  const ga = GROUP_ORDER.indexOf(a.group), gb = GROUP_ORDER.indexOf(b.group);
  if (ga !== gb) return ga - gb;
  const na = parseInt((/\d+$/.exec(a.label) || ["-1"])[0], 10), nb = parseInt((/\d+$/.exec(b.label) || ["-1"])[0], 10);
  return na !== nb ? na - nb : a.label.localeCompare(b.label);
}

export function groupColor(group) {
  return GROUP_COLORS[group] || GROUP_COLORS.OTHER;
}

/** bars: [{label, group, values: [number...], title}]; series: [{name, color|null, opacity}] */
function barChart(bars, series, ariaLabel) {
  const barW = 14, gap = 4, left = 40, top = 12, plotH = 120, labelH = 46;
  const slot = barW * series.length + gap;
  const width = left + Math.max(1, bars.length) * slot + 8;
  const height = top + plotH + labelH;
  const max = Math.max(1e-12, ...bars.flatMap((b) => b.values.map((v) => v || 0)));
  const root = svg("svg", {
    class: "la-chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
    "aria-label": ariaLabel, preserveAspectRatio: "xMinYMin meet", style: `max-width:${Math.round(width * 1.45)}px`,
  });
  root.appendChild(svg("title", {}, ariaLabel));
  for (const t of [0, 0.5, 1]) {
    const y = top + plotH - t * plotH;
    root.appendChild(svg("line", { x1: left - 4, x2: width - 4, y1: y, y2: y, class: "la-grid" }));
    root.appendChild(svg("text", { x: left - 6, y: y + 3, "text-anchor": "end", class: "la-axis" }, fmt(max * t, 2)));
  }
  bars.forEach((bar, i) => {
    const x0 = left + i * slot;
    bar.values.forEach((v, s) => {
      const hgt = Math.max(0, (v || 0) / max * plotH);
      const color = series[s].color || groupColor(bar.group);
      const rect = svg("rect", {
        x: x0 + s * barW, y: top + plotH - hgt, width: barW - 1, height: Math.max(hgt, 0.5),
        fill: color, "fill-opacity": series[s].opacity ?? 1, class: "la-bar", "data-block": bar.label,
      });
      rect.appendChild(svg("title", {}, `${bar.label} ${series[s].name}: ${bar.title ? bar.title(s) : fmt(v)}`));
      root.appendChild(rect);
    });
    const lx = x0 + (slot - gap) / 2, ly = top + plotH + 6;
    root.appendChild(svg("text", {
      x: lx, y: ly, transform: `rotate(60 ${lx} ${ly})`, class: "la-axis la-label",
    }, bar.label));
  });
  return root;
}

/** The detail's chart: energy per block of `analysis` (engine.analysis) and per text encoder. */
export function energyChart(analysis) {
  const blocks = (analysis.blocks || []).map((b) => ({
    label: b.name, group: blockGroup(b.name), values: [b.energy],
    title: () => `energy ${fmt(b.energy)}, ${fmt((b.share || 0) * 100, 1)}% of the total`,
  }));
  for (const [name, te] of Object.entries(analysis.text_encoders || {}).sort()) {
    blocks.push({
      label: name, group: "TE", values: [te.energy],
      title: () => `energy ${fmt(te.energy)}, ${fmt((te.share || 0) * 100, 1)}% of the total`,
    });
  }
  return barChart(blocks, [{ name: "energy", color: null }],
    `Energy per block${analysis.clip_share != null ? `; text encoders ${fmt(analysis.clip_share * 100, 1)}%` : ""}`);
}

/** The plan's chart: the stack's energy per block before and after, summed over its LoRAs. */
export function planChart(plan) {
  const sums = new Map();
  const add = (label, group, before, after) => {
    const row = sums.get(label) || { label, group, values: [0, 0] };
    row.values[0] += before || 0;
    row.values[1] += after || 0;
    sums.set(label, row);
  };
  for (const lora of plan.loras || []) {
    for (const b of lora.blocks || []) add(b.block, blockGroup(b.block), b.energy_before, b.energy_after);
    for (const t of lora.text_encoders || []) add(t.name, "TE", t.energy_before, t.energy_after);
  }
  const bars = [...sums.values()].sort(compareBlocks).map((r) => ({ ...r, title: (s) => fmt(r.values[s]) }));
  return barChart(bars, [{ name: "before", color: "#8a8f98", opacity: 0.55 }, { name: "after", color: null }],
    "Stack energy per block, before (grey) and after the plan");
}

export function chartLegend(groups) {
  const wrap = document.createElement("div");
  wrap.className = "la-legend";
  for (const g of groups) {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = groupColor(g);
    item.append(dot, g === "TE" ? "text encoders" : g);
    wrap.appendChild(item);
  }
  return wrap;
}
