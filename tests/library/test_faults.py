"""Fault injection: kill `lora-atlas organize` at random points and check nothing is lost.

Each run copies a small library of good and bad files and starts organize in another process
that SIGKILLs itself at its N-th crash point (N random; fs_safety.crash_point marks every moment
between two file-system steps: journal publish, link, unlink, temp write, rename, backup). Those
processes are forked from the test (imports already done, so 60 runs stay fast); a few more runs
start the real `lora-atlas organize` command and kill it after a random delay. Then: every original file is still somewhere, byte-identical; organize (or
reconcile --repair, then organize) brings the library to a consistent state; and in some runs
undoing every journaled run gives back the original tree exactly.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback

import pytest

from lora_atlas.demo.synthetic_loras import write_fixture
from lora_atlas.library import fs_safety, journal, operations
from lora_atlas.library.errors import NothingToUndo

RUNS = 60
TIMER_RUNS = 6
NOW = "2025-01-02T03:04:05Z"


def _count_points(template, tmp_path) -> int:
    root = str(tmp_path / "count")
    shutil.copytree(template, root)
    fs_safety.points_passed = 0
    operations.organize(root)
    return fs_safety.points_passed


def _organize_forked(root: str, crash_at: int):
    pid = os.fork()
    if pid == 0:                                   # the child: organize, dying at crash point N
        code = 0
        try:
            fs_safety._crash_at, fs_safety.points_passed = crash_at, 0
            operations.organize(root)
        except BaseException:                      # noqa: BLE001 - reported through the exit code
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), ""


def _organize_subprocess(root: str, crash_at: int | None, delay: float | None):
    env = dict(os.environ, LORA_ATLAS_NOW=NOW, LORA_ATLAS_CRASH_AT=str(crash_at or 0), LORA_ATLAS_FSYNC="0")
    proc = subprocess.Popen([sys.executable, "-m", "lora_atlas", "organize", root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if delay is not None:
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def _check_consistent(root: str, original: dict, hashes) -> None:
    now = collections.Counter(hashes(root).values())
    assert not collections.Counter(original.values()) - now, "an original file is missing"
    report = operations.reconcile_library(root)
    assert report.ok, report.errors
    assert not [w for w in report.warnings if "not organized" in w or "does not list" in w], report.warnings
    assert not [n for n in hashes(root) if os.path.basename(n).startswith(fs_safety.TEMP_PREFIX)]


@pytest.fixture
def warm_template(library_copy, monkeypatch):
    """The mixed library with its store already scanned (inspection is the engine's cost, not
    what this test is about), and fsync off: a killed process loses no page cache."""
    monkeypatch.setattr(fs_safety, "_fsync", False)
    root = str(library_copy("mixed", "template"))
    operations.scan_library(root)
    return root


def test_kill_organize_at_random_points(warm_template, library, tmp_path, hashes, monkeypatch):
    _library_template = warm_template
    _, original = library
    total = _count_points(_library_template, tmp_path)
    assert total > 50
    rng = random.Random(20250102)
    cases = [(i, rng.randint(1, total + 3), None) for i in range(RUNS)]
    cases += [(RUNS + i, None, rng.uniform(0.2, 1.5)) for i in range(TIMER_RUNS)]
    roots = {}
    for i, _, _ in cases:
        roots[i] = str(tmp_path / f"run{i}")
        shutil.copytree(_library_template, roots[i])
    monkeypatch.setenv("LORA_ATLAS_NOW", NOW)
    outcomes = {i: _organize_forked(roots[i], n) for i, n, _ in cases[:RUNS]}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes.update(zip([c[0] for c in cases[RUNS:]],
                            pool.map(lambda c: _organize_subprocess(roots[c[0]], None, c[2]), cases[RUNS:])))
    killed = sum(1 for code, _ in outcomes.values() if code == -signal.SIGKILL)
    assert killed >= RUNS * 3 // 4
    for i, crash_at, _ in cases:
        root = roots[i]
        code, err = outcomes[i]
        assert code in (0, -signal.SIGKILL), err
        # 1. Nothing lost, right after the kill.
        after_kill = collections.Counter(hashes(root).values())
        assert not collections.Counter(original.values()) - after_kill, f"run {i} (crash at {crash_at}) lost a file"
        # 2. The next organize (or a repair first) makes it consistent.
        if i % 2:
            operations.reconcile_library(root, repair=True)
        operations.organize(root)
        _check_consistent(root, original, hashes)
        # 3. Undoing every run gives back the original tree, byte for byte.
        if i % 3 == 0:
            while True:
                try:
                    operations.undo(root)
                except NothingToUndo:
                    break
            assert hashes(root) == original, f"run {i} (crash at {crash_at}): undo did not restore the tree"


def _journal_temps(root: str) -> list:
    base = journal.journal_dir(root)
    return sorted(os.path.relpath(os.path.join(d, n), base) for d, _, names in os.walk(base)
                  for n in names if n.startswith(fs_safety.TEMP_PREFIX))


def test_recovery_removes_the_temporary_files_a_kill_left_in_the_journal(library_copy, tmp_path, monkeypatch):
    # A second organize rewrites index.json, so its run keeps a backup. Kill it at every crash point
    # inside a write of the journal itself (plan, backup, state): the temporary file it was writing
    # stays in journal/run-0002/ or its backup/, and recovery must remove it.
    monkeypatch.setattr(fs_safety, "_fsync", False)
    monkeypatch.setenv("LORA_ATLAS_NOW", NOW)
    template = str(library_copy("mixed", "template"))
    operations.organize(template)
    write_fixture("sd1_lora", os.path.join(template, "styles", "late.safetensors"), rank=1, sparse=True,
                  metadata={"n": "late"})
    # Which crash points fall inside a journal write (found on a copy, nothing killed).
    probe = str(tmp_path / "probe")
    shutil.copytree(template, probe)
    real_point, stacks = fs_safety.crash_point, []

    def spy():
        stacks.append({frame.name for frame in traceback.extract_stack()})
        real_point()
    monkeypatch.setattr(fs_safety, "crash_point", spy)
    fs_safety.points_passed = 0
    operations.organize(probe)
    monkeypatch.setattr(fs_safety, "crash_point", real_point)
    in_journal = [i + 1 for i, names in enumerate(stacks)
                  if "atomic_write" in names and names & {"backup", "_publish", "set_state"}]
    assert in_journal
    left = set()
    for n in in_journal:
        root = str(tmp_path / f"kill{n}")
        shutil.copytree(template, root)
        code, _ = _organize_forked(root, n)
        assert code == -signal.SIGKILL
        temps = _journal_temps(root)
        left.update("backup" if "backup" in t else "run" for t in temps)
        journal.recover(root)
        assert _journal_temps(root) == [], (n, temps)
    assert left == {"backup", "run"}                     # both kinds of leftover were made and removed
