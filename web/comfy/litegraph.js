// The few LiteGraph calls the comfy host needs, written for every frontend from 1.27 to 1.58 (links
// as an object or a Map, `_nodes` or `nodes`, `selected_nodes` or `selectedItems`). Graph decisions
// live in graph_plan.js; this module reads a graph into plain data and applies node specs to it.
// ComfyUI loads every .js under web/ as an extension: this module only exports.

export function activeGraph(app) {
  return app.canvas?.graph ?? app.rootGraph ?? app.graph;
}

function graphNodes(graph) {
  return [...(graph._nodes ?? graph.nodes ?? [])];
}

function linkOf(graph, id) {
  if (typeof graph.getLink === "function") return graph.getLink(id);
  return graph.links instanceof Map ? graph.links.get(id) : graph.links?.[id];
}

function widgetValues(node) {
  const out = {};
  for (const w of node.widgets ?? []) if (w && w.name) out[w.name] = w.value;
  return out;
}

/** Plain data of the graph: [{id, type, box, widgets, outputs: [{name, type, targets: [{node, slot}]}]}]. */
export function snapshot(graph) {
  return graphNodes(graph).map((n) => ({
    id: n.id, type: n.type, box: [n.pos[0], n.pos[1], n.size?.[0] ?? 200, n.size?.[1] ?? 100],
    widgets: widgetValues(n),
    outputs: (n.outputs ?? []).map((o) => ({
      name: o.name, type: o.type,
      targets: (o.links ?? []).map((id) => linkOf(graph, id)).filter(Boolean)
        .map((l) => ({ node: l.target_id, slot: l.target_slot })),
    })),
  }));
}

/** Ids of the selected nodes of a canvas. */
export function selectedIds(canvas) {
  if (!canvas) return [];
  if (canvas.selected_nodes) return Object.values(canvas.selected_nodes).map((n) => n.id);
  return [...(canvas.selectedItems ?? [])].filter((n) => n && n.id !== undefined && n.type).map((n) => n.id);
}

/** The choices of a combo widget (an array, or a function returning one on newer frontends). */
export function comboValues(node, name) {
  const w = node?.widgets?.find((x) => x.name === name);
  const values = w?.options?.values;
  return typeof values === "function" ? values(w, node) : (values ?? []);
}

/** Set a node's widget by name (the widget's callback runs too, as if the user chose the value). */
export function setWidget(node, name, value) {
  const w = node.widgets?.find((x) => x.name === name);
  if (!w) return false;
  w.value = value;
  try {
    w.callback?.(value, undefined, node);
  } catch (err) {
    console.warn("LoRA Atlas: widget callback", name, err);
  }
  return true;
}

export function createNode(LiteGraph, type, pos, widgets) {
  const node = LiteGraph.createNode(type);
  if (!node) throw new Error(`ComfyUI has no node type ${type}`);
  node.pos = [pos[0], pos[1]];
  for (const [name, value] of Object.entries(widgets)) setWidget(node, name, value);
  return node;
}

const slotOfType = (slots, type) => (slots ?? []).findIndex((s) => s.type === type && !s.widget);
const slotNamed = (slots, name) => (slots ?? []).findIndex((s) => s.name === name);

function connect(from, outSlot, to, inSlot) {
  if (outSlot < 0 || inSlot < 0) throw new Error(`cannot connect ${from.type} to ${to.type}`);
  from.connect(outSlot, to, inSlot);
}

/**
 * Add graph_plan's `spec` ({nodes, links}) where `place(widths)` says, join its links, and run MODEL
 * and CLIP through its chain nodes from `anchor` (graph_plan.chooseAnchor) to what the anchor fed.
 * Returns the new nodes.
 */
export function applySpec(LiteGraph, graph, spec, place, anchor) {
  const made = spec.nodes.map((s) => createNode(LiteGraph, s.type, [0, 0], s.widgets));
  const positions = place(made.map((n) => n.size?.[0] ?? 320));
  made.forEach((node, i) => { node.pos = [positions[i][0], positions[i][1]]; graph.add(node); });
  for (const l of spec.links) {
    connect(made[l.from], slotNamed(made[l.from].outputs, l.output), made[l.to], slotNamed(made[l.to].inputs, l.input));
  }
  const chain = made.filter((_, i) => spec.nodes[i].chain);
  if (anchor && chain.length) {
    const source = graph.getNodeById(anchor.node);
    for (const [type, slot, targets] of [["MODEL", anchor.model, anchor.modelTargets],
                                         ["CLIP", anchor.clip, anchor.clipTargets]]) {
      if (slot === null || slot === undefined) continue;
      let prev = source;
      let prevSlot = slot;
      for (const node of chain) {
        connect(prev, prevSlot, node, slotOfType(node.inputs, type));
        prev = node;
        prevSlot = slotOfType(node.outputs, type);
      }
      for (const t of targets) connect(prev, prevSlot, graph.getNodeById(t.node), t.slot);
    }
  }
  graph.setDirtyCanvas?.(true, true);
  return made;
}
