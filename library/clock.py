"""The library's one clock: UTC to the second for `created_at` / `updated_at` / `organized_at`
fields. LORA_ATLAS_NOW pins it (tests, reproducible demos). Results never carry it otherwise."""

from __future__ import annotations

import os
import time


def utc_now() -> str:
    """ISO-8601 UTC to the second, or LORA_ATLAS_NOW when set."""
    return os.environ.get("LORA_ATLAS_NOW") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
