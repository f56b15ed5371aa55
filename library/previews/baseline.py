"""The A/B pair: the same render without the LoRA (same seed, prompt, settings and server), saved
beside the preview so a person sees what the LoRA itself does, not what the base model does anyway.
The file names are LoRA Atlas's own (no one else writes them), so a re-render replaces the file;
the journal keeps the old one.

    <LoRA's folder>/preview.base.png        in a LoRA's own folder
    <stem>.preview.base.png                 beside a LoRA outside one

Neither name is one a manager or ComfyUI takes for the LoRA's preview (`preview.png`,
`<stem>.preview.png`). Written through the journal with the preview, so `undo` removes both. ComfyUI
caches the rest of the baseline graph, never its SaveImage (a prefix unique per run and LoRA).
"""

from __future__ import annotations


from .. import config_files as cf
from . import graph, prompts
from .client import ComfyError, first_png
from .selection import Target, journal_image

BASE_NAME = "preview.base.png"
BASE_SUFFIX = ".preview.base.png"


def base_file(t: Target) -> str | None:
    """Where the baseline of `t` goes, relative to the root (None: the name would not fit)."""
    name = BASE_NAME if t.own else t.stem + BASE_SUFFIX
    if not cf.fits_name(name):
        return None
    return f"{t.folder}/{name}" if t.folder else name


def render_baseline(t: Target, client, settings: dict, prefix: str, timeout: float) -> bytes:
    """The PNG of `t`'s graph without the LoRA, on `client` (ComfyError when it fails)."""
    prompt = prompts.preview_prompt(settings, t.path, t.config)
    g = graph.family_graph(settings, t.family, None, prompt, seed=graph.preview_seed(t.lora_id),
                           filename_prefix=prefix + "_base")
    return first_png(client, client.wait(client.queue(g), timeout), f"the baseline of '{t.path}'")


def add_baseline(root: str, t: Target, result, client, settings: dict, prefix: str, timeout: float, run):
    """Render and journal the baseline of a LoRA whose preview was just written; the run. A failure
    is told in the result's reason (the preview itself stays)."""
    rel = base_file(t)
    if rel is None:
        return run
    try:
        data = render_baseline(t, client, settings, prefix, timeout)
    except ComfyError as exc:
        result.reason = (result.reason + "; " if result.reason else "") + f"A/B baseline failed: {exc}"
        return run
    return journal_image(root, rel, data, result, run)

