"""Errors of the HTTP face and the one table from library errors to HTTP statuses. Every JSON route
answers a failure as `{"error": message}`: 400 malformed, 403 outside the LoRA roots, 404 unknown
id or path, 409 conflict (busy, exists, a config.yaml to fix first), 413 too big, 507 the disk is full; 500 only for a
bug, without a traceback.

Handlers raise ApiError for what only HTTP knows (a body that is not JSON, an unknown field of a
route); library errors pass through unchanged and `status_of` gives their status by type.
"""

from __future__ import annotations

from ..engine.errors import PlanError
from ..library.errors import (ConfigConflict, ConfigUnreadable, DiskFull, InvalidDocument, InvalidPath, LibraryBusy,
                              LibraryError, NameTaken, NotALibraryRoot, NotFound, OutsideRoots, StoreError)


class ApiError(Exception):
    """A request refused: `status` (4xx) and a one-line message for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# Most specific first: the first class an error is an instance of gives its status.
STATUS_BY_ERROR = (
    (DiskFull, 507),
    (NotFound, 404),
    (OutsideRoots, 403),
    (NameTaken, 409),
    (LibraryBusy, 409),
    (StoreError, 409),
    (ConfigConflict, 409),
    (ConfigUnreadable, 409),
    (InvalidPath, 400),
    (InvalidDocument, 400),
    (NotALibraryRoot, 400),
    (PlanError, 400),
    (LibraryError, 400),
)
KNOWN_ERRORS = tuple(cls for cls, _ in STATUS_BY_ERROR) + (ApiError,)


def status_of(exc: Exception) -> int:
    """The HTTP status of a refused request's exception (ApiError or a library/planner error)."""
    if isinstance(exc, ApiError):
        return exc.status
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500
