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
reason and never stops the rest. Servers share the LoRAs round-robin; one that becomes unreachable
hands its LoRA to the next.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field

from .. import config_files as cf
from .. import journal
from ..clock import utc_now
from ..errors import InvalidDocument, LibraryError
from ..lock import library_lock
from ..organize import Plan, _Builder, check_root, incompatible_reason, index_plan, own_folder, parent_of
from ..organize_apply import apply
from ..scan import QUARANTINE_DIR, load_rows, scan
from ..store import Store
from . import graph, prompts
from . import settings as S
from .client import ComfyError, saved_images

PREVIEW_NAME = "preview.png"
COMFY_SUFFIX = ".preview.png"
PREFIX_DIR = "lora_atlas_previews"
RENDER_TIMEOUT = 1800.0
IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "gif")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODEL_FOLDERS = {"checkpoint": ("checkpoints", "checkpoints"), "diffusion_model": ("diffusion_models", "diffusion_models"),
                 "text_encoders": ("text_encoders", "text_encoders"), "vae": ("vae", "vae")}


@dataclass
class Target:
    path: str                  # the LoRA, relative to the root
    lora_id: str
    family: str | None
    own: bool                  # in a folder of its own (organized)
    existing: str | None       # the preview it has now (a name in its folder)
    config: dict = field(default_factory=dict)     # its config.yaml (own folder), for the prompt

    @property
    def folder(self) -> str:
        return parent_of(self.path)

    @property
    def stem(self) -> str:
        return os.path.splitext(self.path.rsplit("/", 1)[-1])[0]

    def files(self) -> list:
        """The preview files to write, relative to the root."""
        names = [PREVIEW_NAME] if self.own else []
        if cf.fits_name(self.stem + COMFY_SUFFIX):
            names.append(self.stem + COMFY_SUFFIX)
        return [f"{self.folder}/{n}" if self.folder else n for n in names]


@dataclass
class Result:
    path: str
    status: str                # ok | failed | skipped | planned
    reason: str = ""
    server: str | None = None
    files: list = field(default_factory=list)
    prompt: dict | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "reason": self.reason, "server": self.server,
                "files": self.files, "prompt": self.prompt}


@dataclass
class PreviewReport:
    root: str
    servers: list = field(default_factory=list)
    results: list = field(default_factory=list)
    run: int | None = None
    recovered: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results)

    def to_dict(self) -> dict:
        return {"root": self.root, "servers": self.servers, "run": self.run, "recovered": self.recovered,
                "results": [r.to_dict() for r in self.results], "problems": self.problems,
                "counts": {s: self.count(s) for s in ("ok", "failed", "skipped", "planned")}}


# --- selection -------------------------------------------------------------------------------------

def preview_of(root: str, target_folder: str, stem: str, own: bool) -> str | None:
    """The preview a LoRA has: in its own folder any organize recognizes; beside a loose LoRA,
    ComfyUI's `<stem>.preview.<ext>` or `<stem>.<ext>`."""
    folder = os.path.join(root, target_folder) if target_folder else root
    try:
        if own:
            return cf.existing_preview(folder, stem)
        names = set(os.listdir(folder))
    except OSError:
        return None
    for candidate in [f"{stem}.preview.{e}" for e in IMAGE_EXTS] + [f"{stem}.{e}" for e in IMAGE_EXTS[:4]]:
        if candidate in names:
            return candidate
    return None


def select_targets(root: str, store, report, *, select: str = "missing", paths=None, force: bool = False) -> tuple:
    """(targets to render, skipped Results, problems): see the module docstring for the rules."""
    if select not in ("missing", "all"):
        raise InvalidDocument([f"select: 'missing' or 'all', not {select!r}"])
    wanted = None
    problems = []
    if paths:
        wanted = {_relative(root, p) for p in paths}
    targets, skipped = [], []
    seen = set()
    for row in load_rows(store):
        rel = row["path"]
        if rel.split("/")[0] == QUARANTINE_DIR or incompatible_reason(row, None) is not None:
            continue
        if wanted is not None and rel not in wanted:
            continue
        seen.add(rel)
        own = own_folder(root, rel, report)
        t = Target(rel, row["lora_id"], (row.get("inspection") or {}).get("architecture"), own, None)
        t.config = _config_of(root, t)
        t.existing = preview_of(root, t.folder, t.stem, own)
        if t.existing is not None:
            if select == "missing" and wanted is None:
                skipped.append(Result(rel, "skipped", f"has a preview ({t.existing}); --all re-renders it"))
                continue
            if not force and not _ours(root, t, t.existing):
                skipped.append(Result(rel, "skipped", f"has a preview you placed ({t.existing}); --force replaces it "
                                                      "(the old one is kept by the journal: undo restores it)"))
                continue
        targets.append(t)
    for rel in sorted((wanted or set()) - seen):
        problems.append(f"{rel}: not a compatible LoRA of this library (run 'lora-atlas scan' or check the path)")
    return targets, skipped, problems


def _relative(root: str, path: str) -> str:
    full = path if os.path.isabs(path) else os.path.join(root, path)
    if not os.path.exists(full) and not os.path.isabs(path):
        full = os.path.abspath(path)
    return os.path.relpath(os.path.abspath(full), root).replace(os.sep, "/")


def _ours(root: str, t: Target, name: str) -> bool:
    """Whether the preview file `name` holds exactly the bytes LoRA Atlas rendered (config.yaml)."""
    rendered = _recorded_sha(root, t)
    rel = f"{t.folder}/{name}" if t.folder else name
    return rendered is not None and _sha_file(os.path.join(root, rel)) == rendered


def _config_of(root: str, t: Target) -> dict:
    if not t.own:
        return {}
    try:
        doc = cf.read_config(os.path.join(root, t.folder, cf.CONFIG_NAME))
    except (cf.ConfigUnreadable, OSError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _recorded_sha(root: str, t: Target) -> str | None:
    record = _config_of(root, t).get("preview_render")
    return record.get("sha256") if isinstance(record, dict) else None


def _sha_file(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


# --- plan (no server, nothing written) -------------------------------------------------------------

def plan_previews(root: str, *, select: str = "missing", paths=None, force: bool = False) -> PreviewReport:
    """What `render_previews` would render (status 'planned', with the family's template) and skip."""
    from ..operations import reader_store
    root = check_root(root)
    settings = S.load_settings(root)
    report = PreviewReport(root=root)
    with reader_store(root) as (store, _persist):
        scan_report = scan(store, root)
        targets, skipped, report.problems = select_targets(root, store, scan_report, select=select, paths=paths,
                                                           force=force)
    for t in targets:
        reason = _no_template(settings, t)
        if reason:
            report.results.append(Result(t.path, "skipped", reason))
        else:
            models = _template_models(S.resolved(settings, t.family))
            report.results.append(Result(t.path, "planned", f"{t.family}: " + ", ".join(n for _, n in models),
                                         files=t.files()))
    report.results += skipped
    report.results.sort(key=lambda r: r.path)
    return report


def _no_template(settings: dict, t: Target) -> str | None:
    if t.family not in S.FAMILIES or t.family not in settings["templates"]:
        return (f"no preview template for architecture '{t.family}' (preview_config.json templates has "
                f"{', '.join(sorted(settings['templates']))})")
    return None


def _template_models(t: dict) -> list:
    """[(setting key, model name)] a resolved template loads."""
    if t.get("checkpoint") is not None:
        return [("checkpoint", t["checkpoint"])]
    return ([("diffusion_model", t["diffusion_model"])] + [("text_encoders", n) for n in t["text_encoders"]]
            + [("vae", t["vae"])])


# --- render ---------------------------------------------------------------------------------------

def missing_models(template: dict, lists: dict, server: str) -> list:
    """One message per model of `template` the server does not list, naming the setting to change."""
    family = template["family"]
    out = []
    for key, name in _template_models(template):
        kind, folder = MODEL_FOLDERS[key]
        have = lists.get(kind) or []
        if name in have or name.replace("/", "\\") in have:
            continue
        offer = ", ".join(have[:5]) + (", ..." if len(have) > 5 else "") if have else "none"
        out.append(f"the {family} model '{name}' (preview_config.json templates.{family}.{key}) is not on ComfyUI at "
                   f"{server}: set it to one of the server's {kind} ({offer}) or put the file in its models/{folder}")
    return out


def server_lora_name(t: Target, loras: list) -> str | None:
    """The LoRA as the server lists it: the same relative path, else the one LoRA of the same file name."""
    by_path = {n.replace("\\", "/"): n for n in loras}
    if t.path in by_path:
        return by_path[t.path]
    base = t.path.rsplit("/", 1)[-1].casefold()
    same = [n for n in loras if n.replace("\\", "/").rsplit("/", 1)[-1].casefold() == base]
    return same[0] if len(same) == 1 else None


class _Server:
    def __init__(self, client):
        self.client = client
        self.name = getattr(client, "name", "comfyui")
        self.lists = None
        self.error = None

    def connect(self) -> bool:
        try:
            self.lists = self.client.model_lists()
            self.info = self.client.object_info()
        except ComfyError as exc:
            self.error = str(exc)
        return self.error is None


def render_previews(root: str, clients: list, *, select: str = "missing", paths=None, force: bool = False,
                    timeout: float = RENDER_TIMEOUT, progress=None, now: str | None = None) -> PreviewReport:
    """Render and write the previews (see the module docstring); one Result per LoRA."""
    root = check_root(root)
    settings = S.load_settings(root)
    if not clients:
        raise LibraryError("no ComfyUI server given: previews are rendered on one (--server URL)")
    report = PreviewReport(root=root)
    nonce = uuid.uuid4().hex[:12]
    now = now or utc_now()
    with library_lock(root, "previews"):
        report.recovered = journal.recover(root)
        with Store.open(root) as store:
            scan_report = scan(store, root)
            targets, skipped, report.problems = select_targets(root, store, scan_report, select=select, paths=paths,
                                                               force=force)
            servers = [_Server(c) for c in clients]
            for s in servers:
                if progress:
                    progress("connect", 0, 0, s.name)
                s.connect()
            report.servers = [{"server": s.name, "error": s.error} for s in servers]
            live = [s for s in servers if s.error is None]
            run = None
            for i, t in enumerate(targets):
                if progress:
                    progress("render", i, len(targets), t.path)
                result, data, record = _render_with(t, i, live, servers, settings, nonce, timeout)
                if data is not None:
                    run = _write(root, t, data, record, result, force, run, now)
                report.results.append(result)
            if progress:
                progress("render", len(targets), len(targets), None)
            if run is not None:
                after = scan(store, root)
                index = index_plan(root, store, after)
                run = apply(index, run)
                report.problems += index.problems
                run.set_state("committed")
                report.run = run.number
    report.results += skipped
    report.results.sort(key=lambda r: r.path)
    return report


def _render_with(t: Target, i: int, live: list, servers: list, settings: dict, nonce: str, timeout: float):
    """(Result, png bytes or None, record) on the i-th live server, the next one if it goes away."""
    reason = _no_template(settings, t)
    if reason:
        return Result(t.path, "skipped", reason), None, None
    if not live:
        why = "; ".join(s.error for s in servers)
        return Result(t.path, "failed", f"no ComfyUI server answered: {why}"), None, None
    for attempt in range(len(live)):
        server = live[(i + attempt) % len(live)]
        try:
            data, record = _render_one(t, server, settings, nonce, timeout)
            return Result(t.path, "ok", server=server.name, prompt=record), data, record
        except ComfyError as exc:
            if exc.kind != "unreachable" or attempt == len(live) - 1:
                return Result(t.path, "failed", str(exc), server=server.name), None, None
        except InvalidDocument as exc:
            return Result(t.path, "failed", f"the graph could not be built: {exc}", server=server.name), None, None
    return Result(t.path, "failed", "no server left"), None, None     # pragma: no cover - loop returns


def _render_one(t: Target, server: _Server, settings: dict, nonce: str, timeout: float):
    template = S.resolved(settings, t.family)
    missing = missing_models(template, server.lists, server.name)
    if missing:
        raise ComfyError("model_missing", "; ".join(missing))
    lora_name = server_lora_name(t, server.lists.get("loras") or [])
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
    outputs = server.client.wait(server.client.queue(g), timeout)
    images = saved_images(outputs)
    if not images:
        raise ComfyError("render", f"ComfyUI at {server.name} finished but saved no image for '{t.path}'")
    data = server.client.image(images[0])
    if not data.startswith(PNG_MAGIC):
        raise ComfyError("bad_answer", f"ComfyUI at {server.name} sent an image that is not a PNG for '{t.path}'")
    record = dict(prompt.record(), seed=seed, family=t.family, lora_name=lora_name, server=server.name,
                  width=template["width"], height=template["height"], steps=template["steps"], cfg=template["cfg"],
                  sampler=template["sampler"], scheduler=template["scheduler"], weight=template["weight"],
                  models=[n for _, n in _template_models(template)])
    return data, record


def filename_prefix(nonce: str, t: Target) -> str:
    """`lora_atlas_previews/<run nonce>/<slug>-<id>`: unique per run and LoRA (the file is saved even
    when ComfyUI has the rest of the graph cached)."""
    return f"{PREFIX_DIR}/{nonce}/{cf.slugify(t.stem)[:80]}-{t.lora_id[:12]}"


def _write(root: str, t: Target, data: bytes, record: dict, result: Result, force: bool, run, now: str):
    """Journal and perform the preview files and the config.yaml update of one LoRA; the run."""
    plan = Plan(root=root, mode="previews")
    b = _Builder(root, plan)
    recorded = _recorded_sha(root, t)
    kept = []
    for rel in t.files():
        current = _sha_file(os.path.join(root, rel))
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
