"""Two writers never run at once (a clear "busy" message); readers keep working meanwhile."""

from __future__ import annotations

import collections
import subprocess
import sys
import time

import pytest

from lora_atlas.library import operations
from lora_atlas.library.errors import LibraryBusy
from lora_atlas.library.lock import is_locked
from lora_atlas.library.store import Store

HOLD = """
import sys, time
from lora_atlas.library.lock import library_lock
with library_lock(sys.argv[1], "organize"):
    print("locked", flush=True)
    time.sleep(30)
"""


@pytest.fixture
def held(library):
    root, original = library
    operations.scan_library(root)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, root], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield root, original
    proc.kill()
    proc.wait()


def test_a_second_writer_is_told_the_library_is_busy(held):
    root, _ = held
    assert is_locked(root)
    with pytest.raises(LibraryBusy, match=r"busy: organize \(pid \d+\)"):
        operations.organize(root)
    with pytest.raises(LibraryBusy):
        operations.undo(root)
    cli = subprocess.run([sys.executable, "-m", "lora_atlas", "organize", root], capture_output=True, text=True)
    assert cli.returncode == 2 and "busy" in cli.stderr


def test_readers_keep_working_while_a_writer_holds_the_library(held):
    root, original = held
    result = operations.check(root)
    assert len(result.plan.items) == 10
    assert any("store was not updated" in p for p in result.problems)
    assert operations.reconcile_library(root).errors           # no index yet: an answer, not a hang
    with Store.open(root) as store:                            # the store itself stays readable
        assert store.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 10


def test_two_organizes_at_once_leave_a_consistent_library(library, hashes):
    root, original = library
    procs = [subprocess.Popen([sys.executable, "-m", "lora_atlas", "organize", root],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            assert "busy" in err
    assert not collections.Counter(original.values()) - collections.Counter(hashes(root).values())
    assert operations.reconcile_library(root).ok


def test_the_lock_dies_with_its_process(library):
    root, _ = library
    proc = subprocess.Popen([sys.executable, "-c", HOLD, root], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait()
    deadline = time.time() + 5
    while is_locked(root) and time.time() < deadline:
        time.sleep(0.05)
    assert operations.organize(root).run == 1
