"""Render the previews of a library on ComfyUI servers: plan, then apply, like organize.

`plan_previews(root, ...)` says which LoRAs would get a preview and why the others would not, and
changes nothing. `render_previews(root, clients, ...)` holds the library lock, then for each LoRA:

1. selection: `missing` (default: LoRAs with no preview), `all` (also those whose preview LoRA Atlas
   rendered), or the given paths; a preview a person placed is replaced only with `force` (the
   journal keeps the old one, so `undo` puts it back);
2. its family's template (preview_config.json); the template's models and the LoRA itself are looked
   up in the server's own lists (/object_info) before anything is queued, and a missing one is
   reported with the setting to change;
3. the graph (graph.py) with a fixed seed per LoRA and a filename_prefix unique to this run and LoRA
   (ComfyUI re-executes the SaveImage of an otherwise cached graph, so a re-render writes a file);
4. queued on the client, waited for, its image fetched;
5. written through the journal: `preview.png` + ComfyUI's `<stem>.preview.png` in a LoRA's own folder
   (just `<stem>.preview.png` beside a LoRA outside one), config.yaml `preview_image` and
   `preview_render` (the prompt used, seed, server), then index.json's `has_preview` by organize's
   index step. `lora-atlas undo` removes (or restores) all of it.

One LoRA failing (model missing, LoRA not on the server, server error, timeout) is reported with its
reason and never stops the rest. Servers share the LoRAs through dispatch.py (least busy first, a
failed LoRA retried on another server); each preview is written as soon as it arrives, so a run
that is interrupted or cancelled (`cancel`) keeps what it rendered and a re-run does the rest.
"""

from __future__ import annotations

import hashlib
import os
import uuid

from .. import config_files as cf
from .. import journal
from ..clock import utc_now
from ..errors import LibraryError
from ..lock import library_lock
from ..organize import Plan, _Builder, check_root
from ..organize_index import index_plan
from ..organize_apply import apply
from ..scan import scan
from ..store import Store
from . import baseline, graph, prompts
from . import settings as S
from .client import ComfyError, first_png
from .dispatch import Cancel, Server, dispatch
# plan_previews is offered here too: render.py is where the CLI and the job find both halves.
from .selection import (PREVIEW_NAME, PreviewReport, Result, Target, no_template, plan_previews,  # noqa: F401
                        recorded_sha, select_targets, sha_file, template_models)

PREFIX_DIR = "lora_atlas_previews"
RENDER_TIMEOUT = 1800.0
MODEL_FOLDERS = {"checkpoint": ("checkpoints", "checkpoints"), "diffusion_model": ("diffusion_models", "diffusion_models"),
                 "text_encoders": ("text_encoders", "text_encoders"), "vae": ("vae", "vae")}


# --- render ---------------------------------------------------------------------------------------

def missing_models(template: dict, lists: dict, server: str) -> list:
    """One message per model of `template` the server does not list, naming the setting to change."""
    family = template["family"]
    out = []
    for key, name in template_models(template):
        kind, folder = MODEL_FOLDERS[key]
        have = lists.get(kind) or []
        if name in have or name.replace("/", "\\") in have:
            continue
        offer = ", ".join(have[:5]) + (", ..." if len(have) > 5 else "") if have else "none"
        out.append(f"the {family} model '{name}' (preview_config.json templates.{family}.{key}) is not on ComfyUI at "
                   f"{server}: set it to one of the server's {kind} ({offer}) or put the file in its models/{folder}")
    return out


def server_lora_name(t: Target, loras: list, atlas_paths: dict | None = None) -> str | None:
    """The LoRA as the server lists it: the same relative path, else the one LoRA of the same file name,
    else (names differ) the file the server's own LoRA Atlas knows under this LoRA's stable id (the
    same bytes: ids are content fingerprints), `atlas_paths` = {id: [paths in its roots]}."""
    by_path = {n.replace("\\", "/"): n for n in loras}
    if t.path in by_path:
        return by_path[t.path]
    base = t.path.rsplit("/", 1)[-1].casefold()
    same = [n for n in loras if n.replace("\\", "/").rsplit("/", 1)[-1].casefold() == base]
    if len(same) == 1:
        return same[0]
    found = {name for path in (atlas_paths or {}).get(t.lora_id, ()) for norm, name in by_path.items()
             if norm == path or norm.endswith("/" + path) or path.endswith("/" + norm)}
    return found.pop() if len(found) == 1 else None


def render_previews(root: str, clients: list, *, select: str = "missing", paths=None, force: bool = False,
                    timeout: float = RENDER_TIMEOUT, progress=None, now: str | None = None,
                    cancel: Cancel | None = None, ab: bool = False, on_result=None) -> PreviewReport:
    """Render and write the previews (see the module docstring); one Result per LoRA. `ab` adds the
    baseline without the LoRA (baseline.py); `on_result(result)` hears each LoRA's outcome."""
    root = check_root(root)
    settings = S.load_settings(root)
    if not clients:
        raise LibraryError("no ComfyUI server given: previews are rendered on one (--server URL)")
    report = PreviewReport(root=root)
    nonce = uuid.uuid4().hex[:12]
    now = now or utc_now()
    cancel = cancel if cancel is not None else Cancel()
    with library_lock(root, "previews"):
        report.recovered = journal.recover(root)
        with Store.open(root) as store:
            scan_report = scan(store, root)
            targets, skipped, report.problems = select_targets(root, store, scan_report, select=select, paths=paths,
                                                               force=force)
            servers = [Server(c) for c in clients]
            try:
                run = _render_all(root, targets, servers, settings, report, force=force, nonce=nonce,
                                  timeout=timeout, progress=progress, now=now, cancel=cancel, ab=ab,
                                  on_result=on_result)
            finally:
                for s in servers:
                    s.close()
            if run is not None:
                after = scan(store, root)
                index = index_plan(root, store, after)
                run = apply(index, run)
                report.problems += index.problems
                run.set_state("committed")
                report.run = run.number
    report.cancelled = bool(cancel)
    report.results += skipped
    report.results.sort(key=lambda r: r.path)
    return report


def _render_all(root, targets, servers, settings, report, *, force, nonce, timeout, progress, now, cancel,
                ab=False, on_result=None):
    """Connect, dispatch the LoRAs with a template, write each preview as it arrives; the journal run."""
    for s in servers:
        if progress:
            progress("connect", 0, 0, s.name)
        s.connect()
    report.servers = [{"server": s.name, "error": s.error} for s in servers]
    todo = []
    for t in targets:
        reason = no_template(settings, t)
        if reason:
            report.results.append(Result(t.path, "skipped", reason))
        else:
            todo.append(t)
    run = None
    if progress:
        progress("render", 0, len(todo), None)

    finished = [0]

    def render_one(t, server, job):            # a LoRA starts on a server: `path` names it
        if progress:
            progress("render", finished[0], len(todo), t.path)
        return _render_one(t, server, settings, nonce, timeout, job)
    for n, outcome in enumerate(dispatch(todo, servers, render_one, cancel=cancel), 1):
        finished[0] = n
        t, name = outcome.target, outcome.server.name if outcome.server else None
        if outcome.error is not None:
            result = Result(t.path, "cancelled" if outcome.cancelled else "failed", outcome.error, server=name)
        else:
            data, record = outcome.value
            result = Result(t.path, "ok", server=name, prompt=record)
            run = _write(root, t, data, record, result, force, run, now)
            if ab:
                run = baseline.add_baseline(root, t, result, outcome.server.client, settings,
                                            filename_prefix(nonce, t), timeout, run)
        report.results.append(result)
        if on_result:
            on_result(result)
        if progress:
            progress("render", n, len(todo), None)
    for s, view in zip(servers, report.servers):
        view["error"] = view["error"] or s.error      # a server that went away during the run
    return run


def _render_one(t: Target, server: Server, settings: dict, nonce: str, timeout: float, job=None):
    template = S.resolved(settings, t.family)
    missing = missing_models(template, server.lists, server.name)
    if missing:
        raise ComfyError("model_missing", "; ".join(missing))
    lora_name = server_lora_name(t, server.lists.get("loras") or [], server.atlas_paths())
    if lora_name is None:
        raise ComfyError("lora_missing", f"ComfyUI at {server.name} does not list the LoRA '{t.path}' among its "
                                         f"{len(server.lists.get('loras') or [])} LoRAs: render on a server whose "
                                         "models/loras (or extra_model_paths.yaml) holds this library")
    prompt = prompts.preview_prompt(settings, t.path, t.config)
    seed = graph.preview_seed(t.lora_id)
    g = graph.family_graph(settings, t.family, lora_name, prompt, seed=seed, filename_prefix=filename_prefix(nonce, t))
    problems = graph.object_info_problems(g, server.info)
    if problems:
        raise ComfyError("refused", f"ComfyUI at {server.name} would refuse the {t.family} graph: " + "; ".join(problems))
    prompt_id = server.client.queue(g)
    if job is not None:
        job.prompt_id = prompt_id                 # from now on a cancel can take it back
    data = first_png(server.client, server.client.wait(prompt_id, timeout),
                     f"ComfyUI at {server.name} rendering '{t.path}'")
    record = dict(prompt.record(), seed=seed, family=t.family, lora_name=lora_name, server=server.name,
                  width=template["width"], height=template["height"], steps=template["steps"], cfg=template["cfg"],
                  sampler=template["sampler"], scheduler=template["scheduler"], weight=template["weight"],
                  models=[n for _, n in template_models(template)])
    return data, record


def filename_prefix(nonce: str, t: Target) -> str:
    """`lora_atlas_previews/<run nonce>/<slug>-<id>`: unique per run and LoRA (the file is saved even
    when ComfyUI has the rest of the graph cached)."""
    return f"{PREFIX_DIR}/{nonce}/{cf.slugify(t.stem)[:80]}-{t.lora_id[:12]}"


def _write(root: str, t: Target, data: bytes, record: dict, result: Result, force: bool, run, now: str):
    """Journal and perform the preview files and the config.yaml update of one LoRA; the run."""
    plan = Plan(root=root, mode="previews")
    b = _Builder(root, plan)
    recorded = recorded_sha(root, t)
    kept = []
    for rel in t.files():
        current = sha_file(os.path.join(root, rel))
        if current is not None and not force and current != recorded:
            kept.append(rel)                          # a file a person placed: never replaced without --force
            continue
        if b.write(rel, data, 0, "preview") or current == hashlib.sha256(data).hexdigest():
            result.files.append(rel)                  # (a link is refused by the builder, in plan.problems)
    if t.own:
        cfg_rel = f"{t.folder}/{cf.CONFIG_NAME}"
        try:
            doc = cf.read_config(os.path.join(root, cfg_rel))
        except cf.ConfigUnreadable as exc:
            doc = None
            result.reason = f"{cfg_rel}: {exc}; preview written, config.yaml left untouched"
        if doc is not None and not b.untouchable(cfg_rel):
            b.write(cfg_rel, cf.render(with_preview(doc, record, hashlib.sha256(data).hexdigest(), now)), 0, "config")
    if kept:
        result.reason = (result.reason + "; " if result.reason else "") + \
            f"kept your {', '.join(kept)} (--force replaces it)"
    if not plan.ops:
        return run
    run = apply(plan, run)
    if plan.problems:
        result.status, result.reason = "failed", "; ".join(plan.problems)
    return run


def with_preview(doc: dict, record: dict, sha: str, now: str) -> dict:
    """config.yaml with `preview_image: preview.png` (unless a person set another one) and
    `preview_render`: what was rendered, with which prompt, where and when."""
    out = dict(doc)
    atlas = out.get("_atlas") if isinstance(out.get("_atlas"), dict) else None
    owned = (atlas or {}).get("generated") if isinstance((atlas or {}).get("generated"), dict) else None
    current = out.get("preview_image")
    if current in (None, "", PREVIEW_NAME) or (owned is not None and owned.get("preview_image") == cf.value_hash(current)):
        out["preview_image"] = PREVIEW_NAME
        if owned is not None:
            atlas = dict(atlas, generated=dict(owned, preview_image=cf.value_hash(PREVIEW_NAME)))
            out["_atlas"] = atlas
    out["preview_render"] = dict(record, sha256=sha, rendered_at=now)
    if "_atlas" in out:                               # keep the bookkeeping last, as organize writes it
        out["_atlas"] = out.pop("_atlas")
    return out
