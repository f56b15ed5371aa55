"""Organize, check, clean, undo and reconcile on real folders."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from lora_atlas.library import operations
from lora_atlas.library.errors import NotALibraryRoot, NothingToUndo
from lora_atlas.library.scan import load_rows
from lora_atlas.library.store import Store
from lora_atlas.demo.synthetic_loras import write_fixture

HERO = "characters/Héroïne ñ 漢字.safetensors"


def _config(root, folder):
    with open(os.path.join(root, folder, "config.yaml"), "rb") as fh:
        return yaml.safe_load(fh)


def test_organize_layout_configs_previews_and_quarantine(library):
    root, before = library
    result = operations.organize(root)
    assert result.run == 1 and not [i for i in result.plan.items if i.failed]
    index = json.load(open(os.path.join(root, "index.json")))
    ok = {k: v for k, v in index.items() if v["compatible"]}
    assert sorted(v["folder"] for v in ok.values()) == [
        "characters/hero", "characters/héroïne-ñ-漢字", "concepts/texture", "loose-wan",
        "styles/ink-sketch-v2", "styles/watercolor"]
    for entry in ok.values():
        assert {"filename", "folder", "compatible", "format", "has_preview", "has_config", "organized_at"} <= set(entry)
        assert entry["has_config"] and entry["organized_at"] == "2025-01-02T03:04:05Z"
    assert ok["loose-wan"]["role"] is None and ok["hero"]["role"] == "characters"
    cfg = _config(root, "styles/ink-sketch-v2")
    for key in ("name", "filename", "default_weight", "preview_image", "created", "compatible", "notes",
                "architecture", "adapter", "base_model_hint", "trigger_words", "stable_id", "sha256"):
        assert key in cfg
    assert cfg["preview_image"] == "preview.png" and cfg["trigger_words"] == ["inksketch", "monochrome"]
    assert os.path.exists(os.path.join(root, "styles/ink-sketch-v2/ink sketch (v2).preview.png"))
    assert os.path.exists(os.path.join(root, "styles/watercolor/watercolor.txt"))       # the sidecar followed
    bad = {v["filename"]: v["folder"] for v in index.values() if not v["compatible"]}
    assert bad == {"old.ckpt": "_incompatible/pickle", "checkpoint.safetensors": "_incompatible/not-a-lora",
                   "negative.safetensors": "_incompatible/not-a-lora", "empty.safetensors": "_incompatible/unreadable"}
    note = open(os.path.join(root, "_incompatible/pickle/old.ckpt.why.txt")).read()
    assert "pickle" in note and "was: old.ckpt" in note


def test_second_organize_changes_nothing_and_reads_nothing(library, hashes):
    root, _ = library
    operations.organize(root)
    snapshot = hashes(root)
    again = operations.organize(root)
    assert again.run is None and again.plan.items == [] and again.scan.read == 0
    assert hashes(root) == snapshot
    assert operations.reconcile_library(root).ok


def test_index_agrees_with_the_store(library):
    root, _ = library
    operations.organize(root)
    index = json.load(open(os.path.join(root, "index.json")))
    with Store.open(root) as store:
        rows = {r["path"]: r for r in load_rows(store)}
    assert {f"{e['folder']}/{e['filename']}" for e in index.values()} == set(rows)
    for e in index.values():
        assert rows[f"{e['folder']}/{e['filename']}"]["lora_id"] == e["id"]


def test_check_changes_nothing(library, hashes):
    root, before = library
    result = operations.check(root)
    assert {i.action for i in result.plan.items} == {"organize", "quarantine"}
    assert hashes(root) == before and not os.path.exists(os.path.join(root, ".lora-atlas"))


def test_clean_only_quarantines_and_undo_restores(library, hashes):
    root, before = library
    result = operations.organize(root, mode="clean", allow="sd1")
    moved = {i.path: i.dest for i in result.plan.items}
    assert all(i.action == "quarantine" for i in result.plan.items)
    assert moved["styles/ink sketch (v2).safetensors"] == "_incompatible/not-allowed/ink sketch (v2).safetensors"
    assert os.path.exists(os.path.join(root, "styles/watercolor.safetensors"))          # sd1 stays
    operations.undo(root)
    assert hashes(root) == before


def test_undo_restores_a_hash_identical_tree(library, hashes):
    root, before = library
    operations.organize(root)
    operations.organize(root, allow="sdxl")            # a second run: quarantines the non-SDXL ones
    operations.undo(root)
    operations.undo(root)
    assert hashes(root) == before
    with pytest.raises(NothingToUndo):
        operations.undo(root)


def test_user_edits_survive_organize_and_undo(library, hashes):
    root, before = library
    operations.organize(root)
    path = os.path.join(root, "styles/watercolor/config.yaml")
    cfg = yaml.safe_load(open(path))
    cfg["name"], cfg["notes"], cfg["default_weight"], cfg["tags"] = "My Watercolor", "great at 0.6", 0.6, ["soft"]
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    edited = open(path, "rb").read()
    with Store.open(root) as store:                   # a fact changes: the full hash became known
        store.execute("UPDATE files SET sha256 = ? WHERE path LIKE 'styles/watercolor/%'", ("ab" * 32,))
    operations.organize(root)
    after = yaml.safe_load(open(path))
    assert (after["name"], after["notes"], after["default_weight"], after["tags"]) == ("My Watercolor", "great at 0.6", 0.6, ["soft"])
    assert after["sha256"].startswith("ab")             # a tool-owned field was refreshed
    operations.undo(root)                               # undoes the refresh: back to the edited file
    assert open(path, "rb").read() == edited
    report = operations.undo(root)                      # undoes the first organize: edited config set aside
    assert report.set_aside and report.set_aside[0][0] == "styles/watercolor/config.yaml"
    assert os.path.exists(os.path.join(root, report.set_aside[0][1]))
    assert hashes(root) == before


def test_invalid_config_yaml_is_left_untouched(library):
    root, _ = library
    operations.organize(root)
    path = os.path.join(root, "concepts/texture/config.yaml")
    with open(path, "w") as fh:
        fh.write("name: [unclosed\nnotes: x\n")
    with Store.open(root) as store:
        store.execute("DELETE FROM folders")
    result = operations.organize(root)
    assert any("concepts/texture/config.yaml: not valid YAML at line" in p for p in result.problems)
    assert open(path).read() == "name: [unclosed\nnotes: x\n"
    report = operations.reconcile_library(root)
    assert any("texture" in w and "not valid YAML" in w for w in report.warnings)


def test_invalid_index_json_is_rebuilt_with_a_copy_kept(library):
    root, _ = library
    operations.organize(root)
    with open(os.path.join(root, "index.json"), "w") as fh:
        fh.write("{ broken")
    assert not operations.reconcile_library(root).ok
    report = operations.reconcile_library(root, repair=True)
    assert report.ok
    backups = os.listdir(os.path.join(root, ".lora-atlas/journal/run-0002/backup"))
    assert any(open(os.path.join(root, ".lora-atlas/journal/run-0002/backup", b)).read() == "{ broken" for b in backups)


def test_reconcile_errors_on_missing_and_warns_on_unindexed(library):
    root, _ = library
    operations.organize(root)
    os.rename(os.path.join(root, "concepts/texture"), os.path.join(root, "concepts/renamed"))
    os.unlink(os.path.join(root, "styles/watercolor/config.yaml"))
    report = operations.reconcile_library(root)
    assert not report.ok
    assert any("'concepts/texture' is missing" in e for e in report.errors)
    assert any("styles/watercolor/config.yaml' is missing" in e for e in report.errors)
    assert any("concepts/renamed/" in w for w in report.warnings)
    assert operations.reconcile_library(root, repair=True).ok


def test_slugs_are_unique_and_names_odd_or_long_work(tmp_path):
    root = tmp_path / "lib"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for rel in ("a/Same Name.safetensors", "b/same_name.safetensors", "a/same-name.sft", "long.safetensors",
                "a/new\nline.safetensors", "a/con.safetensors"):
        write_fixture("sd1_lora", str(root / rel), rank=1, sparse=True, metadata={"n": rel})
    os.rename(root / "long.safetensors", root / ("x" * (255 - len(".safetensors")) + ".safetensors"))  # 255 bytes
    result = operations.organize(str(root))
    assert not result.problems and not [i for i in result.plan.items if i.failed]
    folders = sorted(os.path.basename(os.path.dirname(i.dest)) for i in result.plan.items)
    assert len(set(f.casefold() for f in folders)) == len(folders)
    assert {"same-name", "same-name-2", "same-name-3", "new-line", "con-lora"} <= set(folders)
    assert any(len(f.encode()) <= 64 and f.startswith("xxx") for f in folders)
    assert operations.reconcile_library(str(root)).ok


def test_files_already_in_their_own_folder_stay(tmp_path):
    root = tmp_path / "lib"
    (root / "styles" / "ink").mkdir(parents=True)
    write_fixture("sd1_lora", str(root / "styles/ink/ink.safetensors"), rank=1, sparse=True)
    result = operations.organize(str(root))
    assert [(i.action, i.path) for i in result.plan.items] == [("config", "styles/ink/config.yaml")]
    # A file dropped into an organized folder goes beside it, not inside it.
    write_fixture("sd1_lora", str(root / "styles/ink/dropped.safetensors"), rank=1, sparse=True, metadata={"a": "b"})
    result = operations.organize(str(root))
    assert {i.path: i.dest for i in result.plan.items} == {"styles/ink/dropped.safetensors": "styles/dropped/dropped.safetensors"}
    assert operations.reconcile_library(str(root)).ok
    assert operations.organize(str(root)).run is None


def test_root_inside_another_library_is_refused(library):
    root, _ = library
    operations.organize(root)
    with pytest.raises(NotALibraryRoot, match="inside the LoRA library"):
        operations.organize(os.path.join(root, "styles"))
    with pytest.raises(NotALibraryRoot, match="not a folder"):
        operations.organize(os.path.join(root, "missing"))


def test_a_failing_step_skips_its_item_and_loses_nothing(library, hashes, monkeypatch):
    root, before = library
    from lora_atlas.library import organize as organize_mod
    from lora_atlas.library.errors import FilesystemError
    real = organize_mod.fs_safety.atomic_write

    def full_disk(path, data, **kw):
        if path.endswith("config.yaml") and "hero" in path:
            raise FilesystemError("the disk is full", "write", path)
        return real(path, data, **kw)
    monkeypatch.setattr(organize_mod.fs_safety, "atomic_write", full_disk)
    result = operations.organize(root)
    assert [i.path for i in result.plan.items if i.failed] == ["characters/hero.safetensors"]
    assert any("disk is full" in p for p in result.problems)
    values = set(hashes(root).values())
    assert set(before.values()) <= values
    monkeypatch.undo()
    assert operations.reconcile_library(root, repair=True).ok


def test_two_bad_files_with_one_255_byte_name_are_both_quarantined(tmp_path, hashes):
    # The second one needs a suffix; `<name>-2.safetensors` is 257 bytes, too long to exist, so it
    # used to fail on every organize, each time adding another failing journal run.
    root = tmp_path / "lib"
    name = "é" * 121 + "x" + ".safetensors"                 # 255 UTF-8 bytes; cutting it splits an 'é'
    assert len(name.encode()) == 255
    for folder in ("a", "b"):
        (root / folder).mkdir(parents=True)
        (root / folder / name).write_bytes(f"not a LoRA from {folder}".encode() * 3)
    before = hashes(root)
    result = operations.organize(str(root))
    assert not [i for i in result.plan.items if i.failed] and not result.problems, result.problems
    assert [i.action for i in result.plan.items] == ["quarantine", "quarantine"]
    quarantine = root / "_incompatible" / "unreadable"
    names = sorted(os.listdir(quarantine))
    assert len(names) == 4 and all(len(n.encode()) <= 255 for n in names)
    files = [n for n in names if not n.endswith(".why.txt")]
    assert name in files and any(n.endswith("-2.safetensors") for n in files)
    for n in files:                                          # each note names its own file
        (note,) = [m for m in names if m.endswith(".why.txt") and
                   (quarantine / m).read_text().split("\n", 1)[0] == n]
        assert note.endswith(".safetensors.why.txt")
    moved = {h for p, h in hashes(root).items() if p.startswith("_incompatible/") and not p.endswith(".why.txt")}
    assert moved == set(before.values())
    again = operations.organize(str(root))
    assert again.run is None and again.plan.items == []       # no new, failing journal run
    operations.undo(str(root))
    assert hashes(root) == before


def _tree(root) -> dict:
    """relative path -> ("link", target) or ("file", bytes) under `root`, the store excluded: a
    link counts as a link, so replacing one by a copy of its target shows."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".lora-atlas"]
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            out[rel] = ("link", os.readlink(path)) if os.path.islink(path) else ("file", open(path, "rb").read())
    return out


def test_symlinks_stay_links_through_organize_and_undo(tmp_path):
    # A linked config.yaml or index.json used to become a regular file (a copy of the target, which
    # may lie outside the library) after organize, and to stay one after undo; a LoRA linked by a
    # relative path was moved into its own folder, where the link pointed nowhere, and undo failed.
    root, shared = tmp_path / "lib", tmp_path / "shared"
    (root / "styles" / "ink").mkdir(parents=True)
    (root / "characters").mkdir()
    shared.mkdir()
    write_fixture("sd1_lora", str(root / "styles/ink/ink.safetensors"), rank=1, sparse=True)
    write_fixture("sdxl_lora", str(root / "characters/hero.safetensors"), rank=1, sparse=True)
    (shared / "ink.yaml").write_text("name: ink from outside\nnotes: kept outside the library\n")
    (shared / "index.json").write_text("{}")
    os.symlink("../../../shared/ink.yaml", root / "styles/ink/config.yaml")        # relative
    os.symlink(shared / "index.json", root / "index.json")                          # absolute
    # Linked LoRAs: a relative link would point nowhere from a new folder; an absolute one moves.
    write_fixture("sd1_lora", str(shared / "rel.safetensors"), rank=1, sparse=True, metadata={"n": "rel"})
    write_fixture("sd1_lora", str(shared / "abs.safetensors"), rank=1, sparse=True, metadata={"n": "abs"})
    os.symlink("../../shared/rel.safetensors", root / "styles/rel.safetensors")
    os.symlink(shared / "abs.safetensors", root / "characters/abs.safetensors")
    before, outside = _tree(root), _tree(shared)
    result = operations.organize(str(root))
    assert result.run == 1 and not [i for i in result.plan.items if i.failed]
    for rel in ("styles/ink/config.yaml", "index.json"):
        assert any(p.startswith(f"{rel}: is a symbolic link; left as it is") for p in result.problems), result.problems
        assert _tree(root)[rel] == before[rel]                                       # still the same link
    assert _tree(shared) == outside                                                  # nothing written through
    assert not [p for p, (kind, data) in _tree(root).items() if kind == "file" and b"kept outside" in data]
    assert os.path.isfile(root / "characters/hero/config.yaml")                      # the rest was organized
    assert any(p.startswith("styles/rel.safetensors: a symbolic link to a relative path") for p in result.problems)
    assert _tree(root)["styles/rel.safetensors"] == before["styles/rel.safetensors"]
    assert _tree(root)["characters/abs/abs.safetensors"] == before["characters/abs.safetensors"]
    assert os.path.isfile(root / "characters/abs/abs.safetensors")                  # moved, and still resolves
    os.rename(shared / "abs.safetensors", tmp_path / "away")        # the link dangles: undo puts it back all the same
    report = operations.undo(str(root))
    os.rename(tmp_path / "away", shared / "abs.safetensors")
    assert not report.problems and _tree(root) == before and _tree(shared) == outside


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_config_yaml_or_index_json_blocks_nothing(tmp_path, deadline):
    root = tmp_path / "lib"
    (root / "styles" / "ink").mkdir(parents=True)
    for stem in ("ink", "wash"):                    # two LoRAs: organize reads config.yaml to tell whose it is
        write_fixture("sd1_lora", str(root / f"styles/ink/{stem}.safetensors"), rank=1, sparse=True, metadata={"n": stem})
    os.mkfifo(root / "styles/ink/config.yaml")
    os.mkfifo(root / "index.json")
    result = operations.organize(str(root))
    assert any(p.startswith("index.json: is a named pipe (FIFO), not a regular file") for p in result.problems)
    report = operations.reconcile_library(str(root))
    assert any("index.json: is a named pipe" in e for e in report.errors)
    assert stat.S_ISFIFO(os.lstat(root / "index.json").st_mode)
    assert stat.S_ISFIFO(os.lstat(root / "styles/ink/config.yaml").st_mode)
