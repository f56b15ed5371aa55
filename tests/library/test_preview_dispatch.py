"""dispatch.py and render.py's run over several servers: the least busy server gets the next LoRA, a
LoRA that fails on one server (gone, or lacking the LoRA) is rendered by another with nothing lost
or rendered twice, every failure is kept per LoRA with each server's reason, and a cancelled run
keeps what it wrote (no half-written file) and a re-run renders only the rest.

The servers are test doubles of the client *interface* (tests/helpers/preview_doubles.py); the same
behaviours against real ComfyUI servers (one killed mid-run) are in
tests/integration/test_previews_runner.py."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from libraries import build_comfy_library, tree_hashes   # tests/helpers
from preview_doubles import FixedPngClient, organized_preview_library   # tests/helpers
from lora_atlas.library import operations
from lora_atlas.library.previews import render
from lora_atlas.library.previews.client import ComfyError
from lora_atlas.library.previews.dispatch import Cancel, Server, dispatch

SD1 = ["characters/hero.safetensors", "concepts/texture.safetensors"]


class Double(FixedPngClient):
    """A server double: its queue depth (`busy`), a failure it raises while rendering, and a gate
    that holds every render until the test opens it; it records what it rendered and withdrew."""

    def __init__(self, name, loras=SD1, busy=0, fail=None, gate=None):
        super().__init__(loras)
        self.name, self.busy, self.fail, self.gate = name, busy, fail, gate
        self.rendered, self.withdrawn = [], []

    def load(self):
        return self.busy

    def wait(self, prompt_id, timeout, progress=None):
        if self.gate is not None:
            assert self.gate.wait(30)
        if prompt_id in self.withdrawn:
            raise ComfyError("cancelled", f"{prompt_id} taken back")
        if self.fail:
            raise ComfyError(self.fail, f"{self.name} failed ({self.fail})")
        lora = [n for n in self.queued[int(prompt_id[1:]) - 1].values() if n["class_type"] == "LoraLoader"]
        self.rendered.append(lora[0]["inputs"]["lora_name"])
        return super().wait(prompt_id, timeout)

    def withdraw(self, ids, interrupt=False):
        """Like ComfyUI: the oldest of our prompts is running (kept unless `interrupt`), the rest are deleted."""
        running = min(ids, key=lambda pid: int(pid[1:]))
        self.withdrawn += [pid for pid in ids if pid != running or interrupt]
        return self.withdrawn


@pytest.fixture
def lib(tmp_path):
    return organized_preview_library(tmp_path / "lib")


def _by_name(report):
    return {os.path.basename(r.path): r for r in report.results}


def _servers(*clients):
    servers = [Server(c) for c in clients]
    for s in servers:
        assert s.connect()
    return servers


def test_the_least_busy_server_gets_the_next_lora():
    busy, idle = Double("busy", busy=5), Double("idle", busy=0)
    seen = []

    def render_one(t, server, job):
        seen.append((t, server.name))
        return t
    outcomes = list(dispatch(["a"], _servers(busy, idle), render_one, per_server=1))
    assert seen == [("a", "idle")] and outcomes[0].value == "a" and outcomes[0].error is None
    busy.busy, idle.busy = 0, 7
    seen.clear()
    list(dispatch(["b"], _servers(busy, idle), render_one, per_server=1))
    assert seen == [("b", "busy")]


def test_a_server_that_goes_away_leaves_its_loras_to_the_other(lib):
    gone, alive = Double("gone", fail="unreachable"), Double("alive", busy=1)
    report = render.render_previews(lib, [gone, alive])
    got = _by_name(report)
    assert got["hero.safetensors"].status == "ok" and got["texture.safetensors"].status == "ok"
    assert got["hero.safetensors"].server == "alive" and got["texture.safetensors"].server == "alive"
    assert sorted(alive.rendered) == sorted(SD1)                        # each once: nothing lost or doubled
    assert {s["server"]: bool(s["error"]) for s in report.servers} == {"gone": True, "alive": False}
    assert os.path.isfile(os.path.join(lib, "characters/hero/preview.png"))


def test_a_lora_missing_on_one_server_is_rendered_by_another_and_each_reason_is_kept(lib):
    has_hero = Double("a", loras=["characters/hero.safetensors"])
    has_texture = Double("b", loras=["concepts/texture.safetensors"])
    got = _by_name(render.render_previews(lib, [has_hero, has_texture]))
    assert (got["hero.safetensors"].server, got["texture.safetensors"].server) == ("a", "b")
    assert got["hero.safetensors"].status == got["texture.safetensors"].status == "ok"
    ink = got["ink_xl.safetensors"]                                     # no SDXL model on either
    assert ink.status == "failed" and ink.reason.count("templates.sdxl.checkpoint") == 2
    assert "at a:" in ink.reason and "at b:" in ink.reason


def test_every_server_failing_a_lora_reports_each_failure_and_the_run_goes_on(lib):
    a, b = Double("a", fail="render"), Double("b", fail="timeout")
    got = _by_name(render.render_previews(lib, [a, b]))
    for name in ("hero.safetensors", "texture.safetensors"):
        assert got[name].status == "failed"
        assert "a failed (render)" in got[name].reason and "b failed (timeout)" in got[name].reason
    assert b.withdrawn                                                  # a timed-out prompt is taken back


def test_a_cancelled_run_keeps_what_it_wrote_and_a_rerun_renders_only_the_rest(lib):
    organized = tree_hashes(lib)
    gate = threading.Event()
    server = Double("s", gate=gate)
    cancel = Cancel()

    def stop_once_two_are_queued():
        while len(server.queued) < 2:
            time.sleep(0.01)
        cancel.request()                          # the running one finishes, the waiting one is taken back
        while not server.withdrawn:
            time.sleep(0.01)
        gate.set()

    started = []

    def progress(phase, done, total, path):      # called as the run starts and as each LoRA starts
        if phase == "render" and done == 0 and total and not started:
            started.append(threading.Thread(target=stop_once_two_are_queued, daemon=True))
            started[0].start()

    report = render.render_previews(lib, [server], cancel=cancel, progress=progress)
    got = _by_name(report)
    assert report.cancelled and report.run
    done = [n for n, r in got.items() if r.status == "ok"]
    stopped = [n for n, r in got.items() if r.status == "cancelled"]
    assert done and stopped and "re-run" in got[stopped[0]].reason
    assert len(server.withdrawn) + len(done) == len(server.queued)      # every queued prompt: written or withdrawn
    for name in done:
        folder = os.path.dirname(got[name].files[0])
        with open(os.path.join(lib, folder, "preview.png"), "rb") as fh:
            assert fh.read() == server.png
    leftovers = [f for _, _, files in os.walk(lib) for f in files if ".tmp" in f or f.startswith(".~")]
    assert leftovers == []

    again = Double("s2")
    rerun = _by_name(render.render_previews(lib, [again]))
    assert sorted(again.rendered) == sorted(n for n in SD1 if os.path.basename(n) in stopped or
                                            os.path.basename(n) not in done)
    assert all(rerun[n].status == "skipped" for n in done)              # what is done stays done
    operations.undo(lib)
    operations.undo(lib)
    assert tree_hashes(lib) == organized


def test_a_cancel_before_anything_runs_cancels_every_lora():
    cancel = Cancel()
    cancel.request()
    outcomes = list(dispatch(["a", "b"], _servers(Double("s")), lambda t, s, j: t, cancel=cancel))
    assert [o.cancelled for o in outcomes] == [True, True]
    assert cancel.request(interrupt=True) == 2


def test_organize_with_a_server_organizes_then_renders_the_missing_previews(tmp_path, capsys):
    from lora_atlas.cli import main
    root = build_comfy_library(tmp_path / "lib")
    code = main(["organize", root, "--server", "http://127.0.0.1:9", "--timeout", "5", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["run"]                                    # organized (journaled) ...
    failed = [r for r in doc["previews"]["results"] if r["status"] == "failed"]
    assert failed and all("unreachable" in r["reason"] for r in failed)   # ... then the previews tried
    assert os.path.isfile(os.path.join(root, "characters", "hero", "config.yaml"))


def test_a_lora_renamed_on_the_server_is_found_by_its_id_in_the_servers_lora_atlas(lib):
    from lora_atlas.library.scan import load_rows
    from lora_atlas.library.store import Store
    with Store.open(lib) as store:
        hero_id = [r["lora_id"] for r in load_rows(store) if r["path"].endswith("hero.safetensors")][0]

    class WithAtlas(Double):
        def atlas_paths(self):
            return {hero_id: ["people/the-hero-v2.safetensors"]}
    server = WithAtlas("s", loras=["mine/people/the-hero-v2.safetensors", "concepts/texture.safetensors"])
    got = _by_name(render.render_previews(lib, [server]))
    assert got["hero.safetensors"].status == "ok"
    assert got["hero.safetensors"].prompt["lora_name"] == "mine/people/the-hero-v2.safetensors"
    assert server.rendered.count("mine/people/the-hero-v2.safetensors") == 1


def test_ctrl_c_cancels_then_interrupts_then_quits():
    import signal
    from lora_atlas.cli.previews_cmd import _cancel_on_signals
    cancel = Cancel()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with _cancel_on_signals(cancel):
            os.kill(os.getpid(), signal.SIGINT)
            assert cancel.level == 1
            os.kill(os.getpid(), signal.SIGINT)
            assert cancel.level == 2
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before
