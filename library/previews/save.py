"""Any image as a LoRA's preview (the *Save as LoRA Preview* node): the same files, journal and
config.yaml / index.json bookkeeping as a rendered preview (render.py `_write`), recorded as
`preview_render: {source: ...}` so a later render knows the file is LoRA Atlas's.

A preview a person placed is kept unless `overwrite`; then the journal keeps the old one, so
`lora-atlas undo` puts it back. The image arrives as PNG bytes: the library does no image work.
"""

from __future__ import annotations

from .. import journal
from ..clock import utc_now
from ..errors import InvalidDocument
from ..lock import library_lock
from ..organize import check_root
from ..organize_apply import apply
from ..organize_index import index_plan
from ..scan import scan
from ..store import Store
from .client import PNG_MAGIC
from .selection import PreviewReport, Result, select_targets

MAX_PNG = 64 << 20


def save_preview(root: str, path: str, data: bytes, *, overwrite: bool = False, width: int | None = None,
                 height: int | None = None, source: str = "Save as LoRA Preview", now: str | None = None) -> PreviewReport:
    """Write `data` (a PNG) as the preview of the LoRA at `path` (relative to `root`); a one-Result
    report: ok with the files written, or skipped with the reason (a preview the person placed)."""
    from .render import _write
    if not isinstance(data, bytes) or not data.startswith(PNG_MAGIC) or len(data) > MAX_PNG:
        raise InvalidDocument([f"the preview must be a PNG of at most {MAX_PNG >> 20} MB"])
    root = check_root(root)
    report = PreviewReport(root=root)
    record = {"source": source, "width": width, "height": height}
    with library_lock(root, "previews"):
        report.recovered = journal.recover(root)
        with Store.open(root) as store:
            targets, skipped, report.problems = select_targets(root, store, scan(store, root), select="all",
                                                               paths=[path], force=overwrite)
            report.results += skipped
            run = None
            for t in targets:
                result = Result(t.path, "ok", server=source, prompt=record)
                run = _write(root, t, data, record, result, overwrite, run, now or utc_now())
                report.results.append(result)
            if run is not None:
                index = index_plan(root, store, scan(store, root))
                run = apply(index, run)
                report.problems += index.problems
                run.set_state("committed")
                report.run = run.number
    return report
