"""Errors of the ComfyUI face. Every JSON route answers a failure as `{"error": message}`.

    ApiError(status, message)    a request refused: 400 malformed, 403 outside the LoRA roots,
                                 404 unknown id or path, 409 conflict (busy, exists), 413 too big
"""

from __future__ import annotations


class ApiError(Exception):
    """A request refused: `status` (4xx) and a one-line message for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
