// What to add to a ComfyUI graph for a plan or a LoRA, decided on plain data (no LiteGraph, no DOM)
// so the rules can be tested outside a browser. web/comfy/litegraph.js applies the result.
// ComfyUI loads every .js under web/ as an extension: this module only exports.

export const LORA_MIME = "application/x-lora-atlas";
export const INSPIRE_LOADER = "LoraLoaderBlockWeight //Inspire";
export const PLAIN_LOADER = "LoraLoader";
export const ATLAS_PLANNER = "LoraAtlasPlanner";
export const ATLAS_APPLY = "LoraAtlasApplyPlan";
export const ATLAS_STACK = "LoraAtlasStack";
export const PLANNER_SLOTS = 4;         // nodes/planner.py SLOTS

const slash = (name) => String(name).replaceAll("\\", "/");

/** ComfyUI's own spelling of a LoRA name given with either separator, or null when it has no such LoRA. */
export function resolveLoraName(given, names) {
  if (!given) return null;
  const want = slash(given);
  return names.find((n) => slash(n) === want) ?? null;
}

/** The ComfyUI name of a plan's absolute file path: the longest listed name the path ends with
 *  (at a folder boundary), so the file is found whichever loras folder holds it. */
export function nameForPath(path, names) {
  const full = slash(path);
  let best = null;
  for (const n of names) {
    const s = slash(n);
    if ((full === s || full.endsWith("/" + s)) && (best === null || s.length > slash(best).length)) best = n;
  }
  return best;
}

/** The ComfyUI name of one LoRA of a plan (its `lora_name` when the plan carries one, else its path). */
export function planLoraName(lora, names) {
  return resolveLoraName(lora.lora_name, names) ?? (lora.path ? nameForPath(lora.path, names) : null);
}

const requested = (lo, key) => (lo.input && typeof lo.input[key] === "number" ? lo.input[key] : lo[key]);

/**
 * The nodes that apply `plan` (the JSON of POST /lora-atlas/plan): one Inspire "LoRA Loader (Block
 * Weight)" per LoRA with the planned strengths and vector when `inspire`, else the pack's Multi-LoRA
 * Planner (same LoRAs, requested strengths, policy, headroom) feeding one Apply LoRA Plan.
 * Returns {nodes: [{type, widgets, chain}], links: [{from, output, to, input}], unresolved: [path]}:
 * `chain` nodes pass MODEL and CLIP through, in order; links join nodes by index and slot name.
 */
export function planNodes(plan, names, { inspire }) {
  const loras = (plan && plan.loras) || [];
  const unresolved = [];
  const named = [];
  for (const lo of loras) {
    const name = planLoraName(lo, names);
    if (name === null) unresolved.push(lo.path ?? lo.lora_name ?? "?");
    else named.push([name, lo]);
  }
  if (inspire) {
    const nodes = named.map(([name, lo]) => ({
      type: INSPIRE_LOADER, chain: true,
      widgets: { lora_name: name, strength_model: lo.strength_model, strength_clip: lo.strength_clip,
                 block_vector: lo.block_vector },
    }));
    return { nodes, links: [], unresolved };
  }
  return { ...plannerNodes(plan, named), unresolved };
}

function plannerNodes(plan, named) {
  const planner = { type: ATLAS_PLANNER, chain: false, widgets: {} };
  if (plan.policy !== undefined) planner.widgets.policy = plan.policy;
  if (plan.headroom !== undefined) planner.widgets.headroom = plan.headroom;
  const nodes = [planner];
  const links = [];
  if (named.length <= PLANNER_SLOTS) {
    named.forEach(([name, lo], i) => {
      planner.widgets[`lora_${i + 1}`] = name;
      planner.widgets[`strength_${i + 1}`] = requested(lo, "strength_model");
    });
  } else {          // more LoRAs than slots: a chain of LoRA Stack nodes into the planner's lora_stack
    named.forEach(([name, lo], i) => {
      nodes.push({ type: ATLAS_STACK, chain: false, widgets: {
        lora_name: name, strength_model: requested(lo, "strength_model"),
        strength_clip: requested(lo, "strength_clip") ?? requested(lo, "strength_model") } });
      const at = nodes.length - 1;
      if (i > 0) links.push({ from: at - 1, output: "lora_stack", to: at, input: "lora_stack" });
    });
    links.push({ from: nodes.length - 1, output: "lora_stack", to: 0, input: "lora_stack" });
  }
  nodes.push({ type: ATLAS_APPLY, chain: true, widgets: {} });
  links.push({ from: 0, output: "lora_plan", to: nodes.length - 1, input: "lora_plan" });
  return { nodes, links };
}

/**
 * Where a chain of MODEL/CLIP nodes goes in a graph snapshot (litegraph.js `snapshot`): after the
 * one selected node with a MODEL output, else (no MODEL node selected) after the graph's only
 * checkpoint loader; two selected MODEL nodes or two checkpoint loaders are not guessed. Returns
 * {node, model, clip, modelTargets, clipTargets} (output slots; the inputs they fed) or null.
 */
export function chooseAnchor(nodes, selectedIds) {
  const hasModel = (n) => n.outputs.some((o) => o.type === "MODEL");
  const selected = nodes.filter((n) => selectedIds.includes(n.id) && hasModel(n));
  let pick = selected.length === 1 ? selected[0] : null;
  if (!pick && selected.length === 0) {
    const loaders = nodes.filter((n) => /CheckpointLoader/i.test(n.type) && hasModel(n));
    if (loaders.length === 1) pick = loaders[0];
  }
  if (!pick) return null;
  const model = pick.outputs.findIndex((o) => o.type === "MODEL");
  const clip = pick.outputs.findIndex((o) => o.type === "CLIP");
  return { node: pick.id, model, clip: clip < 0 ? null : clip,
           modelTargets: pick.outputs[model].targets,
           clipTargets: clip < 0 ? [] : pick.outputs[clip].targets };
}

/** Canvas positions for new nodes of `widths`, side by side `gap` apart: a row under the anchor's box
 *  and under every node box ([x, y, w, h]) in the columns the row takes below the anchor, or from
 *  `origin` when there is no anchor. */
export function placeRow(anchorBox, widths, origin = [0, 0], boxes = [], gap = 40) {
  const span = widths.reduce((a, w) => a + w + gap, 0);
  let [x, y] = origin;
  if (anchorBox) {
    x = anchorBox[0];
    y = anchorBox[1] + anchorBox[3];
    for (const [bx, by, bw, bh] of boxes) {
      if (bx < x + span && bx + bw > x && by >= anchorBox[1]) y = Math.max(y, by + bh);
    }
    y += 80;
  }
  const out = [];
  for (const w of widths) {
    out.push([x, y]);
    x += w + gap;
  }
  return out;
}

const LORA_WIDGET = /^(lora_name|lora_(\d+))$/;

/** The LoRAs a graph snapshot loads: [{name, strength, node, type}] for every LoRA widget set to a
 *  LoRA (loaders, Inspire's, the pack's planner slots and stacks), in node order. */
export function lorasInGraph(nodes) {
  const out = [];
  for (const n of nodes) {
    for (const [key, value] of Object.entries(n.widgets || {})) {
      const m = LORA_WIDGET.exec(key);
      if (!m || typeof value !== "string" || !value || value === "None") continue;
      const w = n.widgets;
      const strength = m[2] ? w[`strength_${m[2]}`] : (w.strength_model ?? w.strength ?? null);
      out.push({ name: value, strength: typeof strength === "number" ? strength : null, node: n.id, type: n.type });
    }
  }
  return out;
}

/** The payload of a dragged gallery card (JSON of {id, name, rel, lora_name}), or null if not ours. */
export function parseDragPayload(text) {
  try {
    const doc = JSON.parse(text);
    return doc && typeof doc === "object" && (doc.lora_name || doc.rel || doc.name) ? doc : null;
  } catch {
    return null;
  }
}

/** The ComfyUI name a dragged card or a listing item stands for (its lora_name, else its path). */
export function itemLoraName(item, names) {
  return resolveLoraName(item.lora_name, names) ?? resolveLoraName(item.rel ?? item.path, names)
    ?? (item.rel || item.path ? nameForPath(item.rel ?? item.path, names) : null);
}
