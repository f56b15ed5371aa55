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
    client.py     the ComfyUI client interface (queue, wait, image, object_info, model lists) and its
                  first transport, HttpComfyClient (a remote server over stdlib urllib)
    live.py       LiveComfyClient: HttpComfyClient followed over the server's websocket (ends known at
                  once, queue depth, prompts withdrawn on cancel); websocket.py is its stdlib client
    dispatch.py   several servers share a run: least busy first, a failed LoRA retried on another
                  server, every server's reason kept, Cancel (stop after those rendering / interrupt)
    local.py      a private headless ComfyUI for one run (--comfyui PATH), never left running
    selection.py  which LoRAs get a preview (missing / all / paths, `force`), and the plan without a server
    render.py     plan → apply: which LoRAs lack a preview, their template and models checked against
                  the server's lists, rendered, written through the journal (preview.png,
                  <stem>.preview.png, config.yaml, index.json); `lora-atlas previews`, job "previews"

What comes next (later work on issue 11): the in-process transport (low priority), the A/B pair,
the block-weight grid, the Save as LoRA Preview node and the queue-state route.

Only stdlib and the library layer here: never ComfyUI or HTTP-server code.
"""
