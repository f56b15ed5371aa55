"""What inspect memoizes per key name or list of names (shared by tables that differ in shapes)
gives the same answer as a scan where nothing was seen before."""

from __future__ import annotations

import pytest

from lora_atlas.demo.synthetic_loras import FIXTURES, write_fixture
from lora_atlas.engine import inspect, keys, layout, safetensors_header, taxonomy
from lora_atlas.engine.errors import BadOffsets
from lora_atlas.engine.inspect import inspect_file


def _clear(names: bool) -> None:
    safetensors_header._TABLE_CACHE.clear()
    inspect._FACTS_CACHE.clear()
    if names:
        keys._SPLIT_CACHE.clear()
        keys._NAME_CACHE.clear()
        layout._SKELETONS.clear()
        taxonomy._BLOCK_CACHE.clear()


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_same_names_other_shapes_inspect_as_if_nothing_was_seen(tmp_path, fixture):
    paths = [write_fixture(fixture, str(tmp_path / f"{fixture}_{rank}_{dtype}.safetensors"), rank=rank, dtype=dtype,
                           sparse=True) for rank in (4, 32) for dtype in ("F16", "F32")]
    fresh = []
    for path in paths:
        _clear(names=True)
        fresh.append(inspect_file(path).to_dict())
    _clear(names=True)
    for path, expected in zip(paths, fresh):
        _clear(names=False)  # new table, names already seen
        assert inspect_file(path).to_dict() == expected


def test_offsets_out_of_file_order_are_validated_as_before():
    doc = {"b": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]},
           "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}
    assert list(safetensors_header._validate_tensors(doc, 8)) == ["b", "a"]
    doc["a"]["data_offsets"] = [0, 4]
    doc["c"] = {"dtype": "F16", "shape": [2], "data_offsets": [2, 6]}
    with pytest.raises(BadOffsets, match="overlap at byte 2"):
        safetensors_header._validate_tensors(doc, 10)


def test_same_names_other_widths_keep_the_variant_the_widths_tell(tmp_path):
    """WAN's variant follows from its hidden width: block indices are memoized per list of names,
    the widths are read from each table."""
    from lora_atlas.demo.model_layers import wan_layers
    from lora_atlas.demo.synthetic_loras import Fixture, Part

    paths = {}
    for dim, ffn in ((1536, 8960), (5120, 13824)):
        fixture = Fixture(f"WAN width {dim}", [Part(wan_layers(dim, ffn, 30), "comfy", options={"suffix": "peft"})],
                          alpha=None)
        paths[dim] = write_fixture(fixture, str(tmp_path / f"wan_{dim}.safetensors"), rank=4, sparse=True)
    fresh = {}
    for dim, path in paths.items():
        _clear(names=True)
        fresh[dim] = inspect_file(path).to_dict()
    assert fresh[1536]["variant"].startswith("2.1-1.3B") and fresh[5120]["variant"].startswith("14B")
    _clear(names=True)
    for dim, path in paths.items():
        _clear(names=False)   # the second table's names were seen with the first one's widths
        assert inspect_file(path).to_dict() == fresh[dim]
