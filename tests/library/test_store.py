"""The SQLite store: migrations from every earlier schema, atomic() nesting, clear failures."""

from __future__ import annotations

import os
import sqlite3

import pytest

from lora_atlas.library.errors import SchemaTooNew, StoreDamaged
from lora_atlas.library.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, STATE_DIR, Store

# The schema version 1 wrote, frozen here as it shipped: a v1 store must open and upgrade in place.
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE files (path TEXT PRIMARY KEY, lora_id TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, sha256 TEXT);
CREATE INDEX files_lora_id ON files(lora_id);
CREATE INDEX files_fingerprint ON files(fingerprint);
CREATE TABLE classification (lora_id TEXT PRIMARY KEY, engine_version TEXT NOT NULL, ok INTEGER NOT NULL,
    error_code TEXT, error TEXT, architecture TEXT, adapter TEXT, base_model_hint TEXT, data TEXT NOT NULL);
CREATE TABLE analysis (lora_id TEXT NOT NULL, analysis_version TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (lora_id, analysis_version));
INSERT INTO schema_version VALUES (1, 'initial');
INSERT INTO files VALUES ('styles/a.safetensors', 'abc', 10, 1, 2, 3, 'fp', NULL);
INSERT INTO classification VALUES ('abc', 'inspect-1', 1, NULL, NULL, 'sd1', 'lora', NULL, '{}');
"""


def _tables(store):
    return {r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_fresh_store_has_every_table_in_wal_mode(tmp_path):
    with Store.open(str(tmp_path)) as store:
        assert store.version() == SCHEMA_VERSION
        assert {"files", "classification", "analysis", "profiles", "saved_plans", "plan_history",
                "lora_settings", "folders", "schema_version"} <= _tables(store)
        assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [name for _, name in store.applied()] == [name for _, name, _ in MIGRATIONS]


def test_v1_snapshot_upgrades_in_place_keeping_rows(tmp_path):
    os.makedirs(tmp_path / STATE_DIR)
    conn = sqlite3.connect(tmp_path / STATE_DIR / DB_NAME)
    conn.executescript(V1_SCHEMA)
    conn.close()
    with Store.open(str(tmp_path)) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.execute("SELECT lora_id FROM files").fetchone()[0] == "abc"
        row = store.execute("SELECT architecture, variant FROM classification").fetchone()
        assert tuple(row) == ("sd1", None)


@pytest.mark.parametrize("version", [v for v, _, _ in MIGRATIONS[:-1]])
def test_every_earlier_schema_upgrades(tmp_path, version):
    with Store.open(str(tmp_path), upto=version) as old:
        assert old.version() == version
        old.execute("INSERT INTO files VALUES ('x.safetensors', 'id1', 1, 2, 3, 4, 'fp', NULL)")
    with Store.open(str(tmp_path)) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 1


def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    with Store.open(str(tmp_path), upto=1):
        pass

    def broken(conn):
        conn.execute("CREATE TABLE half (a)")
        raise RuntimeError("boom")

    monkeypatch.setattr("lora_atlas.library.store.MIGRATIONS", ((1, "initial", None), (2, "broken", broken)))
    with pytest.raises(RuntimeError):
        Store.open(str(tmp_path))
    monkeypatch.undo()
    conn = sqlite3.connect(tmp_path / STATE_DIR / DB_NAME)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'").fetchone()


def test_atomic_nests_with_savepoints():
    store = Store.memory()
    with store.atomic():
        store.execute("INSERT INTO profiles (name, data) VALUES ('a', '{}')")
        with pytest.raises(ValueError):
            with store.atomic():
                store.execute("INSERT INTO profiles (name, data) VALUES ('b', '{}')")
                raise ValueError
        store.execute("INSERT INTO profiles (name, data) VALUES ('c', '{}')")
    assert [r[0] for r in store.execute("SELECT name FROM profiles ORDER BY name")] == ["a", "c"]
    with pytest.raises(KeyError):
        with store.atomic():
            store.execute("INSERT INTO profiles (name, data) VALUES ('d', '{}')")
            raise KeyError
    assert store.execute("SELECT COUNT(*) FROM profiles").fetchone()[0] == 2


def test_newer_schema_is_refused(tmp_path):
    with Store.open(str(tmp_path)) as store:
        store.execute("INSERT INTO schema_version VALUES (99, 'future')")
    with pytest.raises(SchemaTooNew, match="newer LoRA Atlas"):
        Store.open(str(tmp_path))


def test_damaged_store_says_what_to_do(tmp_path):
    os.makedirs(tmp_path / STATE_DIR)
    (tmp_path / STATE_DIR / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreDamaged, match="move it away"):
        Store.open(str(tmp_path))
