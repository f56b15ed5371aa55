"""The HTTP face's two registries: library errors → statuses by type, and job actions with their
options (checked by the registry, not by the handler)."""

from __future__ import annotations

import pytest

from lora_atlas.engine.planner import PlanError
from lora_atlas.library.config_files import ConfigUnreadable
from lora_atlas.library.errors import (ConfigConflict, DiskFull, InvalidDocument, InvalidPath, LibraryBusy,
                                       NameTaken, NotFound, OutsideRoots, SchemaTooNew)
from lora_atlas.server.errors import ApiError, status_of
from lora_atlas.server.jobs import ACTIONS, job_options


@pytest.mark.parametrize("exc, status", [
    (NotFound("x"), 404), (OutsideRoots("x"), 403), (InvalidPath("x"), 400), (InvalidDocument(["x"]), 400),
    (NameTaken(["x"]), 409), (LibraryBusy("x"), 409), (SchemaTooNew("x"), 409), (ConfigConflict("x"), 409),
    (ConfigUnreadable("x"), 409), (PlanError(["x"]), 400), (ApiError(413, "x"), 413), (KeyError("x"), 500),
    (DiskFull("write", "/x"), 507),
])
def test_status_by_error_type(exc, status):
    assert status_of(exc) == status


def test_job_options_are_checked_by_the_action():
    assert job_options("organize", {"root": 0, "allow": "sd1,sdxl", "previews": False}) == \
        {"allow": "sd1,sdxl", "previews": False}
    assert job_options("reconcile", {"repair": True}) == {"repair": True}
    with pytest.raises(InvalidDocument) as info:
        job_options("organize", {"allow": "sd9", "previews": "no", "repair": True, "rm": 1})
    assert info.value.problems[0].startswith("allow: unknown architecture(s) sd9")
    assert "previews: expected true or false" in info.value.problems
    assert info.value.problems[-1].startswith("unknown field(s) repair, rm (options of organize: allow, previews)")
    with pytest.raises(NotFound, match="unknown action 'format-disk'"):
        job_options("format-disk", {})
    with pytest.raises(InvalidDocument, match="root: expected the index"):
        job_options("scan", {"root": "0"})


def test_writers_are_declared_per_action():
    writers = {name for name, a in ACTIONS.items() if a.writes_with({})}
    assert writers == {"organize", "clean", "undo", "previews"}
    assert ACTIONS["reconcile"].writes_with({"repair": True}) and not ACTIONS["reconcile"].writes_with({})


def test_the_previews_job_takes_server_urls_and_all():
    assert job_options("previews", {"servers": ["http://127.0.0.1:8188"], "all": True}) == {
        "servers": ["http://127.0.0.1:8188"], "all": True}
    for bad in ({"servers": "http://x"}, {"servers": []}, {"servers": ["ftp://x"]}, {"all": "yes"}):
        with pytest.raises(InvalidDocument):
            job_options("previews", bad)
