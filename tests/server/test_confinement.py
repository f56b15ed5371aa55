"""Files the routes read or write are confined to their root by real path (issue 13, item 2): a
config.yaml or a LoRA file that is a link leading outside the root is never served nor copied."""

from __future__ import annotations

import os
import shutil

import pytest

from lora_atlas.library import operations

pytestmark = pytest.mark.asyncio

SECRET = "name: not yours\nnotes: the secret outside the roots\n"


@pytest.fixture
def organized(ctx, library):
    operations.organize(library, previews=False)
    ctx.state.refresh()
    return library


async def _hero(client) -> dict:
    return (await (await client.get("/lora-atlas/loras?q=characters/hero")).json())["items"][0]


async def test_config_yaml_linked_outside_is_neither_served_nor_copied(client, organized, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text(SECRET)
    config = os.path.join(organized, "characters", "hero", "config.yaml")
    os.replace(config, config + ".bak")
    os.symlink(secret, config)
    item = await _hero(client)
    resp = await client.get(f"/lora-atlas/loras/{item['id']}?analysis=0")
    text = await resp.text()
    assert resp.status == 200 and "secret" not in text, text
    doc = await resp.json()
    assert doc["config"] is None and "outside the LoRA root" in doc["config_error"]
    for method in ("PATCH", "POST"):
        resp = await client.request(method, f"/lora-atlas/loras/{item['id']}/config", json={"notes": "mine"})
        assert resp.status == 403, await resp.text()
    assert os.path.islink(config) and secret.read_text() == SECRET
    copied = [os.path.join(d, f) for d, _, fs in os.walk(organized) for f in fs
              if not os.path.islink(os.path.join(d, f)) and "secret outside" in open(os.path.join(d, f), "rb").read().decode("utf-8", "replace")]
    assert copied == []


async def test_config_yaml_in_a_folder_linked_outside_is_not_read(client, organized, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.move(os.path.join(organized, "characters", "hero"), outside)
    (outside / "config.yaml").write_text(SECRET)
    os.symlink(outside, os.path.join(organized, "characters", "hero"))
    # the scan does not follow links to folders: the listing keeps the LoRA where it was until a rescan
    item = await _hero(client)
    resp = await client.get(f"/lora-atlas/loras/{item['id']}?analysis=0")
    assert "secret" not in await resp.text()
    resp = await client.patch(f"/lora-atlas/loras/{item['id']}/config", json={"notes": "mine"})
    assert resp.status == 403, await resp.text()
    assert (outside / "config.yaml").read_text() == SECRET


async def test_a_lora_file_linked_outside_is_not_read_by_id(client, ctx, library, tmp_path):
    from lora_atlas.demo.synthetic_loras import write_fixture
    outside = str(tmp_path / "outside.safetensors")
    write_fixture("sd1_lora", outside, rank=2, seed=77)
    os.symlink(outside, os.path.join(library, "styles", "linked.safetensors"))
    ctx.state.refresh()
    found = (await (await client.get("/lora-atlas/loras?q=styles/linked")).json())["items"]
    assert [it["path"] for it in found] == ["styles/linked.safetensors"]     # listed, as ComfyUI lists it
    lora_id = found[0]["id"]
    resp = await client.get(f"/lora-atlas/loras/{lora_id}")
    assert resp.status == 403 and "outside" in (await resp.json())["error"]
    for ref in ({"id": lora_id}, {"path": "styles/linked.safetensors"}):
        resp = await client.post("/lora-atlas/plan", json={"loras": [ref]})
        assert resp.status == 403, (ref, await resp.text())


async def test_a_duplicate_linked_outside_does_not_hide_the_copy_inside(client, ctx, library, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shutil.copy(os.path.join(library, "styles", "watercolor.safetensors"), outside)
    os.symlink(outside, os.path.join(library, "styles", "a_linked.safetensors"))
    ctx.state.refresh()
    items = (await (await client.get("/lora-atlas/loras?q=styles/")).json())["items"]
    ids = {it["path"]: it["id"] for it in items}
    assert ids["styles/a_linked.safetensors"] == ids["styles/watercolor.safetensors"]
    resp = await client.get(f"/lora-atlas/loras/{ids['styles/watercolor.safetensors']}?analysis=0")
    assert resp.status == 200 and (await resp.json())["path"] == "styles/watercolor.safetensors"
    plan = await client.post("/lora-atlas/plan", json={"loras": [{"id": ids["styles/watercolor.safetensors"]}]})
    assert plan.status == 200 and (await plan.json())["loras"][0]["path"].endswith("styles/watercolor.safetensors")
