"""The listing's cache survives reads: a request that only reads the store (the listing itself,
profiles, plan history) may leave an empty WAL file behind or remove it, and that is no change, so
the next listing is answered from the same index instead of rebuilding it (a second on 10,000
LoRAs, which the panel's first paint cannot afford)."""

from __future__ import annotations

from lora_atlas.library import operations
from lora_atlas.server.app import CONTEXT, make_app


async def test_reads_keep_the_index(aiohttp_client, library_copy):
    root = str(library_copy("comfy"))
    operations.scan_library(root)
    app = make_app([root], auto_scan=False)
    client = await aiohttp_client(app)
    state = app[CONTEXT].state
    assert (await (await client.get("/lora-atlas/loras")).json())["total"] >= 4
    first = state.fresh_index()
    assert first is not None
    for path in ("/lora-atlas/loras", "/lora-atlas/profiles", "/lora-atlas/loras", "/lora-atlas/plan-history",
                 "/lora-atlas/loras?sort=name", "/lora-atlas/templates", "/lora-atlas/loras"):
        assert (await client.get(path)).status == 200
        assert state.fresh_index() is first, path
    state.bump(root)                         # our own write: rebuilt
    assert state.fresh_index() is None
