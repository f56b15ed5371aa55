"""Which LoRAs of a library get a preview, and the plan of a render without a server: the
selection rules (`missing`, `all`, given paths; a preview a person placed is kept unless `force`),
where a LoRA's previews live, and whether its family has a template. render.py renders the plan."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from .. import config_files as cf
from ..errors import InvalidDocument
from ..organize import Plan, _Builder, check_root, incompatible_reason, own_folder, parent_of
from ..organize_apply import apply
from ..scan import QUARANTINE_DIR, load_rows, scan
from . import settings as S

PREVIEW_NAME = "preview.png"
COMFY_SUFFIX = ".preview.png"
IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "gif")


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
    status: str                # ok | failed | skipped | planned | cancelled
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
    cancelled: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results)

    def to_dict(self) -> dict:
        return {"root": self.root, "servers": self.servers, "run": self.run, "recovered": self.recovered,
                "results": [r.to_dict() for r in self.results], "problems": self.problems,
                "cancelled": self.cancelled,
                "counts": {s: self.count(s) for s in ("ok", "failed", "skipped", "planned", "cancelled")}}


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
        t.config = config_of(root, t)
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
    rendered = recorded_sha(root, t)
    rel = f"{t.folder}/{name}" if t.folder else name
    return rendered is not None and sha_file(os.path.join(root, rel)) == rendered


def config_of(root: str, t: Target) -> dict:
    if not t.own:
        return {}
    try:
        doc = cf.read_config(os.path.join(root, t.folder, cf.CONFIG_NAME))
    except (cf.ConfigUnreadable, OSError):
        return {}
    return doc if isinstance(doc, dict) else {}


def recorded_sha(root: str, t: Target) -> str | None:
    record = config_of(root, t).get("preview_render")
    return record.get("sha256") if isinstance(record, dict) else None


def sha_file(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def journal_image(root: str, rel: str, data: bytes, result: Result, run):
    """Write one image LoRA Atlas owns (the A/B baseline, the grid) at `rel` through the journal;
    `rel` joins the result's files when written or already these bytes. The run (a new one when
    `run` is None and something was written)."""
    current = sha_file(os.path.join(root, rel))
    plan = Plan(root=root, mode="previews")
    if _Builder(root, plan).write(rel, data, 0, "preview") or current == hashlib.sha256(data).hexdigest():
        result.files.append(rel)
    return apply(plan, run) if plan.ops else run


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
        reason = no_template(settings, t)
        if reason:
            report.results.append(Result(t.path, "skipped", reason))
        else:
            models = template_models(S.resolved(settings, t.family))
            report.results.append(Result(t.path, "planned", f"{t.family}: " + ", ".join(n for _, n in models),
                                         files=t.files()))
    report.results += skipped
    report.results.sort(key=lambda r: r.path)
    return report


def no_template(settings: dict, t: Target) -> str | None:
    if t.family not in S.FAMILIES or t.family not in settings["templates"]:
        return (f"no preview template for architecture '{t.family}' (preview_config.json templates has "
                f"{', '.join(sorted(settings['templates']))})")
    return None


def template_models(t: dict) -> list:
    """[(setting key, model name)] a resolved template loads."""
    if t.get("checkpoint") is not None:
        return [("checkpoint", t["checkpoint"])]
    return ([("diffusion_model", t["diffusion_model"])] + [("text_encoders", n) for n in t["text_encoders"]]
            + [("vae", t["vae"])])
