"""example_workflows/*.json are the UI form of tests/helpers/workflows.py GRAPHS (the graphs the
integration tests run on the real ComfyUI), regenerated with `python tests/helpers/workflows.py`."""

from __future__ import annotations

import json
import os

from lora_atlas import NODE_CLASS_MAPPINGS
from workflows import GRAPHS, OUT, WIDGETS, render   # tests/helpers, via pytest `pythonpath`


def test_example_workflows_are_in_sync():
    assert sorted(os.listdir(OUT)) == sorted(f"{name}.json" for name in GRAPHS)
    for name in GRAPHS:
        with open(os.path.join(OUT, name + ".json")) as fh:
            assert fh.read() == render(name), f"{name}: run python tests/helpers/workflows.py"


def test_example_workflows_use_known_nodes_and_every_node_of_ours():
    used = {node["class_type"] for graph in GRAPHS.values() for node in graph.values()}
    assert used <= set(NODE_CLASS_MAPPINGS) | set(WIDGETS)
    # the preview nodes render (grid) or write a library (save): tests/integration/test_previews_inprocess.py
    assert set(NODE_CLASS_MAPPINGS) - used == {"LoraAtlasPlanToStack", "LoraAtlasBlockGrid", "LoraAtlasSavePreview"}
    for name in GRAPHS:
        doc = json.loads(render(name))
        ids = {n["id"] for n in doc["nodes"]}
        assert all(link[1] in ids and link[3] in ids for link in doc["links"])
