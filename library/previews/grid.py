"""The block-weight grid of one LoRA: rows are the file's block groups on their own (IN / MID / OUT
for a UNet, DOUBLE / SINGLE for Flux-like files, from the engine's taxonomy of its own positions),
columns are strengths; one labelled PNG.

The grid is rendered by the pack's *LoRA Atlas Block Grid* node (nodes/block_grid.py) in one prompt:
it applies the LoRA with each row's Inspire block vector (BASE, the text encoder, 0), samples every
cell with the same seed, and stitches the cells with their labels (Pillow, which ComfyUI has). So
`lora-atlas previews FILE --grid --server URL` needs the pack installed on that server, and this
module stays free of image code: it builds the vectors and the prompt, and writes the PNG it gets
back through the journal as

    <LoRA's folder>/preview.grid.png    (in a LoRA's own folder)
    <stem>.preview.grid.png             (beside a LoRA outside one)
"""

from __future__ import annotations

import re
import uuid

from .. import config_files as cf
from .. import journal
from ..errors import InvalidDocument
from ..lock import library_lock
from ..organize import check_root
from ..scan import scan
from ..store import Store
from . import graph, prompts
from . import settings as S
from .client import ComfyError, first_png
from .selection import PreviewReport, Result, Target, journal_image, no_template, select_targets

GRID_NODE = "LoraAtlasBlockGrid"
GRID_NAME = "preview.grid.png"
GRID_SUFFIX = ".preview.grid.png"
DEFAULT_STRENGTHS = (0.5, 1.0)
MAX_STRENGTHS = 8
_GROUP = re.compile(r"^([A-Z]+)\d*$")


def parse_strengths(text) -> list:
    """"0.5,1.0" (or a list of numbers) -> [0.5, 1.0]; 1 to MAX_STRENGTHS values within ±WEIGHT_MAX."""
    items = text if isinstance(text, (list, tuple)) else [p for p in str(text).replace(" ", "").split(",") if p]
    try:
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        raise InvalidDocument([f"strengths: numbers separated by commas such as 0.5,1.0, not {text!r}"]) from None
    problems = [] if 1 <= len(values) <= MAX_STRENGTHS else [f"strengths: 1 to {MAX_STRENGTHS} values, not {len(values)}"]
    problems += [p for v in values for p in S._number("strengths", v, -S.WEIGHT_MAX, S.WEIGHT_MAX)]
    if problems:
        raise InvalidDocument(problems)
    return values


def group_of(label: str) -> str | None:
    m = _GROUP.match(label)
    return m.group(1) if m else None


def group_rows(positions: list) -> list:
    """[(group, Inspire block_vector)] for a file's positions ("BASE", "IN1", "MID1+OUT1", ...): one
    row per block group, in the file's own order, 1 at that group's positions and 0 elsewhere
    (BASE too). A position Inspire merges across groups belongs to both rows."""
    from ...engine.block_vectors import inspire_vector
    groups = []
    for label in positions[1:]:
        for part in label.split("+"):
            g = group_of(part)
            if g and g not in groups:
                groups.append(g)
    rows = []
    for g in groups:
        ratios = {"BASE": 0.0}
        for label in positions[1:]:
            ratios[label] = 1.0 if any(group_of(p) == g for p in label.split("+")) else 0.0
        rows.append((g, inspire_vector(ratios, positions)[0]))
    return rows


def grid_file(t: Target) -> str | None:
    name = GRID_NAME if t.own else t.stem + GRID_SUFFIX
    if not cf.fits_name(name):
        return None
    return f"{t.folder}/{name}" if t.folder else name


def grid_graph(template: dict, lora_name: str, *, positive: str, negative: str, seed: int, strengths: list,
               filename_prefix: str) -> dict:
    """The prompt: the family's model loaders → LoRA Atlas Block Grid → SaveImage."""
    g = graph._Prompt()
    model, clip, vae = graph._loaders(g, template)
    node = g.add(GRID_NODE, model=model, clip=clip, vae=vae, lora_name=lora_name, positive=positive,
                 negative=negative, seed=int(seed), steps=int(template["steps"]), cfg=float(template["cfg"]),
                 sampler_name=template["sampler"], scheduler=template["scheduler"], width=int(template["width"]),
                 height=int(template["height"]), strengths=",".join(f"{v:g}" for v in strengths))
    g.add("SaveImage", images=[node, 0], filename_prefix=filename_prefix)
    return g.nodes


def render_grid(root: str, path: str, client, *, strengths=DEFAULT_STRENGTHS, timeout: float = 1800.0) -> PreviewReport:
    """Render one LoRA's grid on `client` and write it through the journal; a one-Result report."""
    from .render import server_lora_name
    root = check_root(root)
    settings = S.load_settings(root)
    values = parse_strengths(strengths)
    report = PreviewReport(root=root)
    with library_lock(root, "previews"):
        report.recovered = journal.recover(root)
        with Store.open(root) as store:
            targets, skipped, report.problems = select_targets(root, store, scan(store, root), select="all",
                                                               paths=[path], force=True)
            if not targets:
                report.results += skipped
                return report
            t = targets[0]
            result = Result(t.path, "ok", server=getattr(client, "name", "comfyui"))
            report.results.append(result)
            reason = no_template(settings, t)
            rel = grid_file(t)
            try:
                if reason:
                    raise ComfyError("template", reason)
                data = _render(t, client, settings, values, timeout, server_lora_name)
            except (ComfyError, InvalidDocument) as exc:
                result.status, result.reason = "failed", str(exc)
                return report
            if rel is None:
                result.status, result.reason = "failed", "the grid's file name would be too long"
                return report
            run = journal_image(root, rel, data, result, None)
            if run is not None:
                run.set_state("committed")
                report.run = run.number
            result.prompt = {"strengths": values}
    return report


def _render(t: Target, client, settings: dict, values: list, timeout: float, server_lora_name) -> bytes:
    lists = client.model_lists()
    if GRID_NODE not in client.object_info():
        raise ComfyError("refused", f"ComfyUI at {client.name} has no '{GRID_NODE}' node: install LoRA Atlas there "
                                    "(custom_nodes) to render block-weight grids")
    lora_name = server_lora_name(t, lists.get("loras") or [])
    if lora_name is None:
        raise ComfyError("lora_missing", f"ComfyUI at {client.name} does not list the LoRA '{t.path}'")
    template = S.resolved(settings, t.family)
    prompt = prompts.preview_prompt(settings, t.path, t.config)
    g = grid_graph(template, lora_name, positive=prompt.positive, negative=prompt.negative,
                   seed=graph.preview_seed(t.lora_id), strengths=values,
                   filename_prefix=f"lora_atlas_previews/{uuid.uuid4().hex[:12]}/grid-{t.lora_id[:12]}")
    return first_png(client, client.wait(client.queue(g), timeout), f"the grid of '{t.path}'")
