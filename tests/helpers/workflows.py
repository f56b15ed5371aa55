"""The example graphs: API format (what the tests queue on the real ComfyUI) and the UI format
written to example_workflows/*.json (what ComfyUI's "Browse templates" loads).

    python tests/helpers/workflows.py        # rewrite example_workflows/ from GRAPHS

The UI form is derived mechanically: one node per API node, links from `[node, slot]` inputs,
widget values in declared input order (`WIDGETS`; for our nodes from INPUT_TYPES). A test checks
the files are in sync, and the integration test checks WIDGETS against the real /object_info.
"""

from __future__ import annotations

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "example_workflows")

# Input order of the core / Inspire nodes used (name, is_widget); "seed" is followed by its
# control_after_generate value in widgets_values.
WIDGETS = {
    "CheckpointLoaderSimple": [("ckpt_name", True)],
    "CLIPTextEncode": [("text", True), ("clip", False)],
    "EmptyLatentImage": [("width", True), ("height", True), ("batch_size", True)],
    "KSampler": [("model", False), ("seed", True), ("steps", True), ("cfg", True), ("sampler_name", True),
                 ("scheduler", True), ("positive", False), ("negative", False), ("latent_image", False),
                 ("denoise", True)],
    "VAEDecode": [("samples", False), ("vae", False)],
    "SaveImage": [("images", False), ("filename_prefix", True)],
    "PreviewImage": [("images", False)],
    "LoraLoaderBlockWeight //Inspire": [("model", False), ("clip", False), ("category_filter", True),
                                        ("lora_name", True), ("strength_model", True), ("strength_clip", True),
                                        ("inverse", True), ("seed", True), ("A", True), ("B", True),
                                        ("preset", True), ("block_vector", True), ("bypass", True)],
}
OUTPUTS = {
    "CheckpointLoaderSimple": [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
    "CLIPTextEncode": [("CONDITIONING", "CONDITIONING")], "EmptyLatentImage": [("LATENT", "LATENT")],
    "KSampler": [("LATENT", "LATENT")], "VAEDecode": [("IMAGE", "IMAGE")], "SaveImage": [], "PreviewImage": [],
    "LoraLoaderBlockWeight //Inspire": [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("populated_vector", "STRING")],
}

_SAMPLE = {
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a watercolor portrait of a hero", "clip": ["4", 1]}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, low quality", "clip": ["4", 1]}},
    "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "8": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "seed": 1, "steps": 20, "cfg": 7.0,
                                               "sampler_name": "euler", "scheduler": "normal", "positive": ["5", 0],
                                               "negative": ["6", 0], "latent_image": ["7", 0], "denoise": 1.0}},
    "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
    "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "lora_atlas"}},
}
CKPT = "sd15_random.safetensors"

GRAPHS = {
    "lora_atlas_browse_plan_apply": {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "LoraAtlasBrowser", "inputs": {"search": "characters/hero", "architecture": "sd1",
                                                           "role": "", "adapter": "any", "sort": "path", "index": 0}},
        "3": {"class_type": "LoraAtlasPlanner", "inputs": {"policy": "balanced", "headroom": 0.5, "lora_1": ["2", 0],
                                                           "strength_1": 0.8, "lora_2": "styles/watercolor.safetensors",
                                                           "strength_2": 0.7, "model": ["1", 0]}},
        "4": {"class_type": "LoraAtlasApplyPlan", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_plan": ["3", 0]}},
        **_SAMPLE,
    },
    "lora_atlas_block_analyzer": {
        "1": {"class_type": "LoraAtlasBrowser", "inputs": {"search": "", "architecture": "any", "role": "styles",
                                                           "adapter": "any", "sort": "name", "index": 0}},
        "2": {"class_type": "LoraAtlasBlockAnalyzer", "inputs": {"lora_name": ["1", 0], "chart_width": 768}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 4]}},
    },
    "lora_atlas_stack_plan_apply": {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "LoraAtlasStack", "inputs": {"lora_name": "characters/hero.safetensors",
                                                         "strength_model": 0.9, "strength_clip": 0.9}},
        "3": {"class_type": "LoraAtlasStack", "inputs": {"lora_name": "styles/watercolor.safetensors",
                                                         "strength_model": 0.8, "strength_clip": 0.6,
                                                         "lora_stack": ["2", 0]}},
        "11": {"class_type": "LoraAtlasPlanner", "inputs": {"policy": "role-priority", "headroom": 0.5,
                                                            "lora_stack": ["3", 0]}},
        "4": {"class_type": "LoraAtlasApplyPlan", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_plan": ["11", 0]}},
        **_SAMPLE,
    },
    "lora_atlas_planner_to_inspire": {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "LoraAtlasPlanner", "inputs": {"policy": "balanced", "headroom": 0.5,
                                                           "lora_1": "characters/hero.safetensors", "strength_1": 0.9,
                                                           "lora_2": "styles/watercolor.safetensors", "strength_2": 0.8}},
        "3": {"class_type": "LoraLoaderBlockWeight //Inspire", "inputs": {
            "model": ["1", 0], "clip": ["1", 1], "category_filter": "All", "lora_name": "characters/hero.safetensors",
            "strength_model": ["2", 4], "strength_clip": ["2", 5], "inverse": False, "seed": 0, "A": 4.0, "B": 1.0,
            "preset": "Preset", "block_vector": ["2", 3], "bypass": False}},
        "4": {"class_type": "LoraLoaderBlockWeight //Inspire", "inputs": {
            "model": ["3", 0], "clip": ["3", 1], "category_filter": "All", "lora_name": "styles/watercolor.safetensors",
            "strength_model": ["2", 7], "strength_clip": ["2", 8], "inverse": False, "seed": 0, "A": 4.0, "B": 1.0,
            "preset": "Preset", "block_vector": ["2", 6], "bypass": False}},
        **_SAMPLE,
    },
}


def _ours():
    sys.path.insert(0, os.path.dirname(REPO))
    from lora_atlas import NODE_CLASS_MAPPINGS
    return NODE_CLASS_MAPPINGS


def _spec(class_type: str):
    """([(input name, is_widget, type, default)], [(output name, type)]) of a node type."""
    ours = _ours()
    if class_type in ours:
        cls = ours[class_type]
        spec = cls.INPUT_TYPES()
        inputs = []
        for section in ("required", "optional"):
            for name, decl in spec.get(section, {}).items():
                kind = decl[0]
                widget = isinstance(kind, list) or kind in ("STRING", "INT", "FLOAT", "BOOLEAN")
                opts = decl[1] if len(decl) > 1 else {}
                default = opts.get("default", kind[0] if isinstance(kind, list) and kind else None)
                inputs.append((name, widget, "COMBO" if isinstance(kind, list) else str(kind), default))
        return inputs, [(n, str(t)) for n, t in zip(cls.RETURN_NAMES, cls.RETURN_TYPES)]
    return [(n, w, "*", None) for n, w in WIDGETS[class_type]], OUTPUTS[class_type]


def to_ui(graph: dict) -> dict:
    ids = {key: i + 1 for i, key in enumerate(graph)}
    links, nodes = [], []
    out_links: dict = {}
    for key, node in graph.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                links.append([len(links) + 1, ids[value[0]], value[1], ids[key], name])
                out_links.setdefault((value[0], value[1]), []).append(len(links))
    for n, (key, node) in enumerate(graph.items()):
        inputs_spec, outputs_spec = _spec(node["class_type"])
        inputs, widgets = [], []
        for name, widget, typ, default in inputs_spec:
            value = node["inputs"].get(name, default)
            if isinstance(value, list):
                link = next(l for l in links if l[3] == ids[key] and l[4] == name)
                entry = {"name": name, "type": typ if typ != "*" else "*", "link": link[0]}
                if widget:
                    entry["widget"] = {"name": name}
                inputs.append(entry)
                if widget:
                    widgets.append(None)
            elif widget:
                widgets.append(value)
                if name == "seed":
                    widgets.append("fixed")
            elif not widget:
                inputs.append({"name": name, "type": typ, "link": None})
        outputs = [{"name": name, "type": typ, "slot_index": i, "links": out_links.get((key, i), [])}
                   for i, (name, typ) in enumerate(outputs_spec)]
        nodes.append({"id": ids[key], "type": node["class_type"], "pos": [60 + 340 * (n % 4), 60 + 300 * (n // 4)],
                      "size": [315, 200], "flags": {}, "order": n, "mode": 0, "inputs": inputs, "outputs": outputs,
                      "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets})
    typed = []
    for lid, src, slot, dst, name in links:
        src_key = next(k for k, v in ids.items() if v == src)
        typ = _spec(graph[src_key]["class_type"])[1][slot][1]
        dst_input = next(i for i in next(n for n in nodes if n["id"] == dst)["inputs"] if i["name"] == name)
        typed.append([lid, src, slot, dst, next(n for n in nodes if n["id"] == dst)["inputs"].index(dst_input), typ])
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": typed, "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


def render(name: str) -> str:
    return json.dumps(to_ui(GRAPHS[name]), indent=1, sort_keys=True) + "\n"


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for name in GRAPHS:
        with open(os.path.join(OUT, name + ".json"), "w") as fh:
            fh.write(render(name))
    print(f"wrote {len(GRAPHS)} workflows into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
