"""The HTTP face without ComfyUI: one flat route table, thin handlers, the server state, the job
runner, the event contract, the error envelope, and the standalone app for `lora-atlas serve`.
Both hosts use it: nodes/comfy_glue.py attaches it to ComfyUI's PromptServer, server/app.py runs
it alone. Never imports ComfyUI.

Where things go:
- a new route: a line in `routes.ROUTES` naming a handler in the topic's `*_routes.py` (imported on
  its first request, so attaching the table stays cheap) that validates,
  calls one library function (through `ctx.run`) and returns `http.json_response`;
- a new background job: one `JobAction` entry in `jobs.ACTIONS` (its function, whether it writes,
  its options' checks);
- a new event: a name and a line in `events.py`;
- a new library error: its status in `errors.STATUS_BY_ERROR`.
"""
