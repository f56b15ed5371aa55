"""Shared terminal plumbing: canonical JSON, plain tables, progress lines, PATH expansion."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..library.plan_exports import canonical_json
from ..library.scan import lora_files_under
from ..library.text_table import table  # noqa: F401  (re-exported for the commands)


def print_json(document) -> None:
    """One deterministic JSON document (sorted keys, two-space indent) on stdout. A text the OS
    gave with bytes that are not UTF-8 (a file name) is written with those bytes as `\\xNN`, so
    the document is still printed and the name can be told exactly."""
    try:
        data = canonical_json(document)
    except TypeError:                      # orjson: "str is not valid UTF-8: surrogates not allowed"
        data = canonical_json(_utf8_texts(document))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def execute(args, name: str, call, render, exit_code) -> int:
    """Call one library function; print its JSON (`args.json`) or its text; map failures to exit code 2."""
    from ..library.errors import LibraryError
    try:
        result = call()
    except LibraryError as exc:
        print(f"lora-atlas {name}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(result.to_dict())
    else:
        render(result)
    return exit_code(result)


def progress_bar(enabled: bool = True):
    """A `progress(phase, done, total, path)` callback drawing one line on stderr, or None when
    stderr is not a terminal (scripts and --json runs see nothing)."""
    if not (enabled and sys.stderr.isatty()):
        return None

    def show(phase, done, total, path):
        if total:
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r{phase:7} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"\r{phase:7} {done} files")
        sys.stderr.flush()
    return show


def each_with_progress(paths: list, phase: str, work, enabled: bool = True, jobs: int = 1) -> list:
    """`work(path)` for every path, results in the paths' order, with a progress line on a
    terminal. With `jobs` > 1 the paths are shared among that many worker processes (`work` must
    then be a module-level function); the results are the same as with one."""
    show = progress_bar(enabled and len(paths) > 1)
    if jobs > 1 and len(paths) > 1:
        return _in_processes(paths, phase, work, min(jobs, len(paths)), show)
    results = []
    for done, path in enumerate(paths, 1):
        results.append(work(path))
        if show:
            show(phase, done, len(paths), path)
    return results


def _in_processes(paths: list, phase: str, work, jobs: int, show) -> list:
    with ProcessPoolExecutor(jobs) as pool:
        futures = {pool.submit(work, path): i for i, path in enumerate(paths)}
        results = [None] * len(paths)
        for done, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            results[i] = future.result()
            if show:
                show(phase, done, len(paths), paths[i])
    return results


def default_jobs() -> int:
    """Worker processes for per-file work: one per CPU, at most two (each is memory-bounded, and
    two already keep a laptop busy)."""
    return max(1, min(2, os.cpu_count() or 1))


def lora_paths(arguments) -> list:
    """PATH arguments expanded: a folder means its LoRA files, recursively, sorted, with a scan's
    skip rules (library/scan.py; what is skipped is said on stderr); paths that do not exist are
    kept, last and in argument order, so they are reported as unreadable rather than dropped.
    Only stat is used here: a FIFO or device given by name is kept and the engine reports it
    unreadable without opening it (engine/safetensors_header.open_regular)."""
    missing = [p for p in arguments if not os.path.exists(p)]
    out = []
    for path in arguments:
        if path in missing:
            continue
        if not os.path.isdir(path):
            out.append(path)
            continue
        files, skipped = lora_files_under(path)
        out += files
        for problem in skipped:
            print(f"lora-atlas: {path}: {problem}", file=sys.stderr)
    return out + missing


def utf8_text(text: str) -> str:
    """`text` as valid UTF-8: undecodable file-name bytes as `\\xNN`, lone surrogates as `\\uXXXX`."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8_texts(document):
    if isinstance(document, str):
        return utf8_text(document)
    if isinstance(document, dict):
        return {utf8_text(k) if isinstance(k, str) else k: _utf8_texts(v) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [_utf8_texts(v) for v in document]
    return document
