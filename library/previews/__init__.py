"""Previews rendered through ComfyUI's own sampler graph (issue 11). What is here, the foundation:

    settings.py   preview_config.json: the seed's global fields (prompt, full_prompt, 640×640, 30 steps,
                  guidance_scale 8.0, weight 1.0, negative prompt and its source, note) and one render
                  template per architecture family (models to load, sampler, scheduler, steps/cfg/size);
                  defaults, a loader that reports every problem at once, deterministic JSON
    prompts.py    smart prompts: {trigger_words} / {title} / {name}, config.yaml preview_prompt /
                  preview_negative, the LoRA's name when it has no trigger words; the prompt used is
                  returned for recording next to the preview
    graph.py      pure builders of API-format prompts per family (the LoRA loaded by ComfyUI's own loader
                  nodes, a fixed seed per LoRA, an A/B baseline without it) and checks of a prompt against
                  its own links or a server's /object_info

What comes next (later work on issue 11): the ComfyUI client interface with its three transports
(in-process queue at low priority, remote servers over HTTP + websocket, a private headless ComfyUI),
the render queue and resumable jobs that write preview.png / <stem>.preview.png through the journal,
model checks against the server's lists before queueing, the block-weight grid, the Save as LoRA
Preview node, the `previews` CLI, routes and README.

Only stdlib and the library layer here: never ComfyUI or HTTP-server code.
"""
