"""The one plan request: its JSON reader reports every problem at once, and the one planning
entry gives the CLI, the routes and the node the same plan for the same request."""

from __future__ import annotations

import os

import pytest

from lora_atlas.engine.planner import PlanError
from lora_atlas.library.errors import InvalidDocument
from lora_atlas.library.plan_requests import MAX_LORAS, LoraRequest, PlanRequest
from lora_atlas.library.planning import plan_request
from lora_atlas.library.store import Store


def _resolve(entry, where):
    return entry.get("path") or entry.get("lora_name") or entry["id"], None


def test_from_json_reports_every_problem_at_once():
    body = {"loras": [{"path": "a.safetensors", "strength_model": "loud", "x": 1},
                      {"strength_model": 1},
                      {"path": "b.safetensors", "profile": {"OUT": "half"}, "role": 3},
                      "c.safetensors"],
            "policy": 3, "headroom": True, "role_order": "styles", "template": ["t"], "extra": 1}
    with pytest.raises(InvalidDocument) as info:
        PlanRequest.from_json(body, _resolve)
    problems = info.value.problems
    for expected in ("unknown field 'extra'", "loras[0]: unknown field 'x'",
                     "loras[0].strength_model: expected a number, got str",
                     "loras[1]: give \"id\", \"path\" or \"lora_name\"", "loras[2].role: expected text",
                     "loras[3]: expected an object", "policy: expected text", "headroom: expected a number",
                     "role_order: expected a list of role names", "template: expected the name of a saved template"):
        assert expected in problems, (expected, problems)
    assert any(p.startswith("loras[2].profile: ") for p in problems)


@pytest.mark.parametrize("body, message", [
    ([], "expected a JSON object"), ({"loras": []}, "loras: expected a non-empty list"),
    ({"loras": [{"path": "a"}] * (MAX_LORAS + 1)}, f"at most {MAX_LORAS} LoRAs"),
])
def test_from_json_refuses_the_shape(body, message):
    with pytest.raises(InvalidDocument, match=message):
        PlanRequest.from_json(body, _resolve)


def test_from_json_keeps_what_it_was_given():
    req = PlanRequest.from_json({"loras": [{"lora_name": "x.safetensors", "strength_model": 0.5, "strength_clip": 0,
                                            "profile": "soft"}], "role_order": ["styles"], "template": "t"}, _resolve)
    lo = req.loras[0]
    assert (lo.path, lo.strength_model, lo.strength_clip, lo.profile, lo.where) == \
        ("x.safetensors", 0.5, 0.0, "soft", "loras[0].profile")
    assert req.role_order == ("styles",) and req.template == "t" and req.explicit() == {"role_order"}


def test_planning_collects_request_library_and_planner_problems(tmp_path, lora_files):
    a = lora_files("sd1_lora", rank=2, seed=1)
    with Store.open(str(tmp_path)) as store:
        request = PlanRequest([LoraRequest(a, "abc", profile="nope", where="loras[0].profile")], policy="loud",
                              template="missing", problems=["noted by the face"])
        with pytest.raises(PlanError) as info:
            plan_request(request, store, str(tmp_path))
    problems = info.value.problems
    assert "noted by the face" in problems
    assert any(p.startswith("loras[0].profile: no profile named 'nope'") for p in problems)
    assert any(p.startswith("template missing: no template named 'missing'") for p in problems)
    with Store.open(str(tmp_path)) as store:
        assert store.execute("SELECT COUNT(*) FROM plan_history").fetchone()[0] == 0    # nothing written


def test_the_same_request_plans_the_same_with_and_without_a_library(tmp_path, lora_files):
    a, b = lora_files("sd1_lora", rank=2, seed=1), lora_files("sd1_lora", rank=2, seed=2)
    request = PlanRequest([LoraRequest(a, 1.0, role="styles"), LoraRequest(b, 0.8, role="characters")],
                          policy="role-priority")
    alone = plan_request(request).plan
    with Store.open(str(tmp_path)) as store:
        kept = plan_request(request, store, os.path.dirname(a))
        assert store.execute("SELECT COUNT(*) FROM plan_history").fetchone()[0] == 1
    assert kept.plan == alone and kept.inputs["loras"][0]["role"] == "styles"
