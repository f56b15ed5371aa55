"""Inspire and A1111 block-weight strings (issue 5): canonical numbers, Inspire's grammar, the
≥12-entry filler, every fixture's own positions, and the A1111 standard layouts."""

from __future__ import annotations

import re

import pytest

from lora_atlas.engine.block_vectors import (MIN_ENTRIES, VectorError, a1111_lbw, canonical_number, inspire_vector,
                                             parse_inspire, populate)
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.demo.synthetic_loras import FIXTURES

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.mark.parametrize("value, text", [(1.0, "1"), (0.5, "0.5"), (-0.0, "0"), (-0.00001, "0"), (0.25000001, "0.25"),
                                         (123.456789, "123.4568"), (-2.5, "-2.5"), (1e-7, "0"), (3, "3"), (0.1 + 0.2, "0.3")])
def test_canonical_numbers(value, text):
    assert canonical_number(value) == text and NUMBER.match(text)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_is_refused(bad):
    with pytest.raises(VectorError):
        canonical_number(bad)


@pytest.mark.parametrize("text", [".5,1,1,1,1,1,1,1,1,1,1,1", "1.,1,1,1,1,1,1,1,1,1,1,1", "+1,1,1,1,1,1,1,1,1,1,1,1",
                                  "1e-3,1,1,1,1,1,1,1,1,1,1,1", "1,1,1,1,1,1,1,1,1,1,1", "1  0,1,1,1,1,1,1,1,1,1,1,1",
                                  "SD-ALL", "x,1,1,1,1,1,1,1,1,1,1,1", "%default=1"])
def test_grammar_refuses_what_inspire_refuses(text):
    with pytest.raises(VectorError):
        parse_inspire(text)


def test_grammar_accepts_labels_subvectors_and_tokens():
    assert parse_inspire("MyStyle:1,0,0,0,0,0,1,1,1,0.5,0.5,0.5")[9] == ["0.5"]
    assert parse_inspire("1, 1 0 0.5 ,A,a,B,b,R,U,-1,0,1,1")[1] == ["1", "0", "0.5"]
    assert parse_inspire("1,\n0,\n0,\n0,0,0,0,0,0,0,0,0")[3] == ["0"]


def test_populate_follows_inspire_length_rules():
    positions = ["BASE"] + [f"SINGLE{i}" for i in range(20)]
    # fewer entries than positions: the rest reuse the last value (§1.5)
    assert populate("0.5,1,1,1,1,1,1,1,1,1,1,0.25", positions) == [0.5] + [1] * 10 + [0.25] * 10
    # more entries than positions: ignored
    assert populate("0.5,0.1,0.2,0.3,1,1,1,1,1,1,1,1", ["BASE", "IN4"]) == [0.5, 0.1]
    assert populate("A,a,B,b,1,1,1,1,1,1,1,1", ["BASE", "IN1", "IN2", "IN3"]) == [4.0, 2.0, 1.0, 0.5]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_fixture_gets_a_vector_for_its_own_positions(lora_files, name):
    insp = inspect_file(lora_files(name, rank=2))
    if not insp.ok:
        pytest.skip(insp.error)
    positions = insp.blocks
    ratios = {p: round(0.1 + 0.9 * k / len(positions), 3) for k, p in enumerate(positions)}
    vector, filler = inspire_vector(ratios, positions)
    entries = parse_inspire(vector)
    assert len(entries) == max(MIN_ENTRIES, len(positions)) and filler == max(0, MIN_ENTRIES - len(positions))
    assert all(NUMBER.match(e[0]) for e in entries)
    assert populate(vector, positions) == [ratios[p] for p in positions]


def test_inspire_vector_needs_every_position():
    with pytest.raises(VectorError, match="IN4"):
        inspire_vector({"BASE": 1}, ["BASE", "IN4"])
    assert inspire_vector({"BASE": 0.8}, ["BASE"]) == ("0.8,1,1,1,1,1,1,1,1,1,1,1", 11)


def _ratios(blocks, value=0.5):
    return {b: (1.0 if b == "BASE" else value) for p in blocks for b in p.split("+")}


@pytest.mark.parametrize("name, length", [("sdxl_lora", 12), ("sd1_lora", 17), ("sdxl_locon", 20), ("sd1_locon", 26),
                                          ("sd2_lora", 17), ("sdxl_partial", 12), ("flux_lora", 61), ("flux_single", 61)])
def test_a1111_standard_lengths(lora_files, name, length):
    insp = inspect_file(lora_files(name, rank=2))
    lbw, ids, notes = a1111_lbw(insp.architecture, _ratios(insp.blocks))
    values = lbw.split(",")
    assert len(values) == length == len(ids) and all(NUMBER.match(v) for v in values)
    if length in (12, 17) and len(insp.blocks) == length:
        # standard LoRAs: A1111 and Inspire layouts are identical (§2.5)
        assert lbw == inspire_vector(_ratios(insp.blocks), insp.blocks)[0]


def test_a1111_locon_conversions(lora_files):
    insp = inspect_file(lora_files("sdxl_locon", rank=2))
    assert len(insp.blocks) == 21
    ratios = _ratios(insp.blocks)
    ratios.update({"MID0": 0.3, "MID1": 0.2, "MID2": 0.4, "IN1": 0.7})
    lbw, ids, notes = a1111_lbw("sdxl", ratios)
    got = dict(zip(ids, lbw.split(",")))
    assert got["MID"] == "0.2" and got["IN0"] == "0" and got["IN1"] == "0.7" and got["BASE"] == "1"
    assert any("smallest" in n for n in notes)
    insp = inspect_file(lora_files("sd1_locon", rank=2))
    assert len(insp.blocks) == 27
    lbw, ids, _ = a1111_lbw("sd1", _ratios(insp.blocks))
    assert ids == ["BASE"] + [f"IN{i}" for i in range(12)] + ["MID"] + [f"OUT{i}" for i in range(12)]
    assert lbw.split(",")[1] == "0"       # IN00: conv_in not trained, nothing reads it


def test_a1111_base_notes_and_no_layout():
    lbw, ids, notes = a1111_lbw("sdxl", {"BASE": 0.5, "IN4": 1.0})
    assert lbw.split(",")[0] == "1" and any("Inspire only" in n for n in notes)
    assert a1111_lbw("sd3", {"BASE": 1.0})[0] is None
    assert a1111_lbw("wan", {"BASE": 1.0})[0] is None
    flux, ids, _ = a1111_lbw("flux", {"BASE": 0.5, "DOUBLE0": 0.25, "SINGLE37": 0.75})
    got = dict(zip(ids, flux.split(",")))
    assert (got["CLIP"], got["T5"], got["IN"], got["OUT"], got["DOUBLE0"], got["SINGLE37"], got["DOUBLE1"]) == \
        ("1", "1", "0.5", "0.5", "0.25", "0.75", "0")
