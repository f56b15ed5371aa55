// Cases for web/comfy/graph_plan.js, run by test_comfy_graph_plan.py with node: prints one JSON
// document of results that the Python test asserts on.
const mod = await import(process.argv[2]);
const names = ["characters/hero.safetensors", "hero.safetensors", "styles/watercolor.safetensors",
  "sub\\win.safetensors"];
const plan = {
  policy: "balanced", headroom: 0.5,
  loras: [
    { path: "/lib/a/characters/hero.safetensors", strength_model: 0.8, strength_clip: 0.77,
      block_vector: "1,0.9,1", input: { strength_model: 1.0, strength_clip: 1.0 } },
    { path: "/lib/a/styles/watercolor.safetensors", strength_model: 0.5, strength_clip: 0.5,
      block_vector: "1,1,1", input: { strength_model: 0.6 } },
    { path: "/elsewhere/gone.safetensors", strength_model: 1, strength_clip: 1, block_vector: "1" },
  ],
};
const many = { ...plan, loras: Array.from({ length: 5 }, () => plan.loras[0]) };
const graph = [
  { id: 1, type: "CheckpointLoaderSimple", box: [10, 20, 300, 100], widgets: { ckpt_name: "x" }, outputs: [
    { name: "MODEL", type: "MODEL", targets: [{ node: 3, slot: 0 }] },
    { name: "CLIP", type: "CLIP", targets: [{ node: 4, slot: 0 }, { node: 5, slot: 0 }] },
    { name: "VAE", type: "VAE", targets: [] }] },
  { id: 2, type: "LoraLoader", box: [0, 0, 1, 1], widgets: { lora_name: "hero.safetensors", strength_model: 0.7 },
    outputs: [{ name: "MODEL", type: "MODEL", targets: [] }, { name: "CLIP", type: "CLIP", targets: [] }] },
  { id: 3, type: "KSampler", box: [0, 0, 1, 1], widgets: { seed: 1 }, outputs: [{ name: "LATENT", type: "LATENT", targets: [] }] },
  { id: 6, type: "LoraAtlasPlanner", box: [0, 0, 1, 1], widgets: { lora_1: "a.safetensors", strength_1: 0.4, lora_2: "None" },
    outputs: [] },
];
const twoCheckpoints = [graph[0], { ...graph[0], id: 9 }];
console.log(JSON.stringify({
  nameForPath: [mod.nameForPath("/lib/a/characters/hero.safetensors", names),
                mod.nameForPath("/lib/a/zcharacters/hero.safetensors", names),
                mod.nameForPath("C:\\loras\\sub\\win.safetensors", names),
                mod.nameForPath("/lib/nothing.safetensors", names)],
  resolve: [mod.resolveLoraName("sub/win.safetensors", names), mod.resolveLoraName("nope", names)],
  inspire: mod.planNodes(plan, names, { inspire: true }),
  fallback: mod.planNodes(plan, names, { inspire: false }),
  fallbackMany: mod.planNodes(many, names, { inspire: false }),
  anchorAuto: mod.chooseAnchor(graph, []),
  anchorSelected: mod.chooseAnchor(graph, [2]),
  anchorSelectedNoModel: mod.chooseAnchor(graph, [3]),
  anchorTwoSelected: mod.chooseAnchor(graph, [1, 2]),
  anchorAmbiguous: mod.chooseAnchor(twoCheckpoints, []),
  row: mod.placeRow([10, 20, 300, 100], [300, 400]),
  rowOrigin: mod.placeRow(null, [300, 400], [5, 6]),
  rowBelowOthers: mod.placeRow([10, 20, 300, 100], [300, 300], [0, 0],
    [[10, 20, 300, 100], [400, 150, 200, 300], [900, 0, 50, 900], [0, -500, 900, 50]]),
  loras: mod.lorasInGraph(graph),
  drag: [mod.parseDragPayload('{"id":"a","lora_name":"x"}'), mod.parseDragPayload("{"), mod.parseDragPayload("3")],
  item: [mod.itemLoraName({ lora_name: "sub/win.safetensors" }, names),
         mod.itemLoraName({ rel: "styles/watercolor.safetensors" }, names),
         mod.itemLoraName({ name: "only a name" }, names)],
}));
