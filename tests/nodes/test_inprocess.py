"""nodes/inprocess.py's version detection and queue items, against the two shapes of ComfyUI's own
`PromptQueue.task_done` (0.3.64; 0.33.0 and 2026 with `process_item`). The client itself runs in a
real ComfyUI in tests/integration/test_previews_inprocess.py."""

from __future__ import annotations

import pytest

from lora_atlas.library.previews.client import ComfyError
from lora_atlas.nodes.inprocess import LOW_PRIORITY, InProcessComfyClient, queue_item, queue_item_fields


class Queue064:
    def task_done(self, item_id, history_result, status):
        pass


class Queue033:
    def task_done(self, item_id, history_result, status, process_item=None):
        pass


def test_the_item_shape_follows_task_done():
    assert queue_item_fields(Queue064()) == 5
    assert queue_item_fields(Queue033()) == 6
    five = queue_item(5, LOW_PRIORITY, "id", {"1": {}}, {"client_id": "x"}, ["1"])
    six = queue_item(6, LOW_PRIORITY, "id", {"1": {}}, {"client_id": "x"}, ["1"])
    assert len(five) == 5 and len(six) == 6 and six[:5] == five and six[5] == {}


def test_previews_sort_after_any_user_prompt():
    user = (12345, "ffff", {}, {}, [])
    preview = queue_item(5, LOW_PRIORITY, "0000", {}, {}, [])
    assert sorted([preview, user])[0] is user            # ComfyUI's heap runs the lowest number first


def test_outside_comfyui_there_is_no_in_process_client():
    with pytest.raises(ComfyError, match="not running inside ComfyUI"):
        InProcessComfyClient()
