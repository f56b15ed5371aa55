"""The event contract: what the server tells its clients, the same in both hosts. Inside ComfyUI
an event goes out through `PromptServer.send_sync(name, data)` and reaches the frontend's
`api.addEventListener(name)`; under `lora-atlas serve` it is sent on `/ws` as
`{"type": name, "data": data}` (ComfyUI's own message shape).

    lora-atlas.job       a job's public view, on every state change and on progress (at most
                         five a second): {"id", "action", "root", "options", "state": "queued" |
                         "running" | "done" | "failed", "progress": {"phase", "done", "total",
                         "path"} or null, "result": the action's report or null, "error": text or null}
    lora-atlas.library   a background scan found new, changed, moved or vanished files:
                         {"root": real path, "changed": true}; clients refresh their listing
    lora-atlas.preview   one LoRA of a previews job started or ended (server/preview_queue.py):
                         {"id": the job, "path", "state": "running" | "done" | "failed" |
                         "skipped", "error": text or null}

A new event gets a name here and a line in this table before any host sends it.
"""

EVENT_JOB = "lora-atlas.job"
EVENT_LIBRARY = "lora-atlas.library"
EVENT_PREVIEW = "lora-atlas.preview"
EVENTS = (EVENT_JOB, EVENT_LIBRARY, EVENT_PREVIEW)
