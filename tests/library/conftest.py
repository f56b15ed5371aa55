"""Shared fixtures for the library tests: a fresh copy of the mixed library (tests/helpers/libraries.py),
on a pinned clock."""

from __future__ import annotations

import pytest

from libraries import tree_hashes   # tests/helpers (pyproject's pytest `pythonpath`)


@pytest.fixture
def library(library_copy):
    """(root, original tree hashes) of a fresh copy of the mixed library."""
    root = str(library_copy("mixed"))
    return root, tree_hashes(root)


@pytest.fixture(autouse=True)
def _pinned_clock(pinned_clock):
    """Every library test runs on the pinned clock."""
