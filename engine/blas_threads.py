"""numpy's OpenBLAS held to one thread for a block of work, through ctypes over the library numpy
bundles. Platform plumbing, kept apart from the maths that needs it (engine.analysis and
engine.interference wrap their passes over a file in `single_threaded_blas`).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import numpy as np


def _openblas():
    """numpy's bundled OpenBLAS thread controls (get, set), or None when they cannot be found."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*")) +
                       glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                return get, set_
    return None


_BLAS = _openblas()


@contextlib.contextmanager
def single_threaded_blas():
    """Run numpy's OpenBLAS on one thread inside the block, then restore it. The products here are
    r×r or tall and thin, where BLAS threads only add synchronisation: measured 5-6x slower with
    two threads on a busy two-core machine."""
    if _BLAS is None:
        yield
        return
    get, set_ = _BLAS
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)
