"""The SQLite store of one LoRA root: `<root>/.lora-atlas/library.db`, WAL mode.

The store is a cache of what is on disk (files, identities, classifications, analyses) plus what
only it holds (profiles, saved plans, per-LoRA settings). The schema changes through named,
additive migrations; each one runs in one transaction together with the row that records it, so a
store written by any earlier version opens and upgrades in place, and a crash mid-upgrade leaves
the previous version intact.

    store = Store.open(root)
    with store.atomic():          # BEGIN IMMEDIATE ... COMMIT; nested calls use savepoints
        store.execute(...)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3

from .errors import DiskFull, SchemaTooNew, StoreDamaged, StoreError
from .fs_safety import DISK_FULL

STATE_DIR = ".lora-atlas"
DB_NAME = "library.db"

# SQLite's primary result codes that decide what a failure means for the user.
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 10, 11, 13, 26
# Below this much free space an I/O error is taken for a full disk: SQLite reports a shared-memory
# file (the WAL index, 32 KiB) it cannot grow as SQLITE_IOERR_SHMSIZE, not SQLITE_FULL.
LOW_SPACE_BYTES = 1 << 20


# --- migrations: append only; never edit one that has shipped --------------------------------

def _m001_initial(conn):
    conn.executescript("""
        CREATE TABLE files (
            path        TEXT PRIMARY KEY,          -- relative to the root, '/' separated
            lora_id     TEXT NOT NULL,             -- stable id (identity.py), shared by duplicates
            size        INTEGER NOT NULL,
            mtime_ns    INTEGER NOT NULL,
            inode       INTEGER NOT NULL,
            device      INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            sha256      TEXT                       -- full-file hash, computed lazily
        );
        CREATE INDEX files_lora_id ON files(lora_id);
        CREATE INDEX files_fingerprint ON files(fingerprint);
        CREATE TABLE classification (
            lora_id         TEXT PRIMARY KEY,
            engine_version  TEXT NOT NULL,
            ok              INTEGER NOT NULL,
            error_code      TEXT,
            error           TEXT,
            architecture    TEXT,
            adapter         TEXT,
            base_model_hint TEXT,
            data            TEXT NOT NULL          -- Inspection.to_dict() without the path, JSON
        );
        CREATE TABLE analysis (
            lora_id          TEXT NOT NULL,
            analysis_version TEXT NOT NULL,
            data             BLOB NOT NULL,
            PRIMARY KEY (lora_id, analysis_version)
        );
    """)


def _m002_profiles_and_plans(conn):
    conn.executescript("""
        CREATE TABLE profiles (
            name       TEXT PRIMARY KEY,
            data       TEXT NOT NULL,
            updated_at TEXT
        );
        CREATE TABLE saved_plans (
            id         INTEGER PRIMARY KEY,
            name       TEXT UNIQUE,
            data       TEXT NOT NULL,
            created_at TEXT
        );
        CREATE TABLE plan_history (
            id         INTEGER PRIMARY KEY,
            plan_id    INTEGER REFERENCES saved_plans(id),
            data       TEXT NOT NULL,
            created_at TEXT
        );
    """)


def _m003_variant_settings_folders(conn):
    conn.executescript("""
        ALTER TABLE classification ADD COLUMN variant TEXT;
        CREATE TABLE lora_settings (               -- notes and settings that follow a LoRA's id
            lora_id TEXT PRIMARY KEY,
            data    TEXT NOT NULL
        );
        CREATE TABLE folders (                     -- the config.yaml organize last wrote per folder
            path             TEXT PRIMARY KEY,
            lora_id          TEXT NOT NULL,
            config_size      INTEGER,
            config_mtime_ns  INTEGER,
            facts_hash       TEXT,
            organized_at     TEXT
        );
    """)


def _m004_plan_inputs_templates_cache(conn):
    conn.executescript("""
        ALTER TABLE saved_plans ADD COLUMN inputs TEXT;          -- the request (library/plans.py), JSON
        ALTER TABLE saved_plans ADD COLUMN schema_version INTEGER;
        ALTER TABLE plan_history ADD COLUMN inputs TEXT;
        ALTER TABLE plan_history ADD COLUMN schema_version INTEGER;
        CREATE TABLE plan_templates (              -- policy + headroom + role order + profiles
            name       TEXT PRIMARY KEY,
            data       TEXT NOT NULL,
            updated_at TEXT
        );
        CREATE TABLE plan_cache_files (            -- engine.plan_cache.PlanCache per-file energies
            key              TEXT NOT NULL,        -- '<stable id>:<size>:<mtime_ns>'
            analysis_version INTEGER NOT NULL,
            path             TEXT NOT NULL,        -- real path last seen (to say 'changed: recomputed')
            data             TEXT NOT NULL,
            PRIMARY KEY (key, analysis_version)
        );
        CREATE INDEX plan_cache_files_path ON plan_cache_files(path);
        CREATE TABLE plan_cache_pairs (            -- PlanCache inner products of two files
            a                TEXT NOT NULL,        -- file keys as above, a < b
            b                TEXT NOT NULL,
            analysis_version INTEGER NOT NULL,
            data             TEXT NOT NULL,
            PRIMARY KEY (a, b, analysis_version)
        );
    """)


def _m005_full_precision_analyses(conn):
    # The analysis cache kept figures rounded to 6 digits (what the block table prints); it now
    # keeps analyze_file's own figures, which the routes serve, and readers round. A cache: the
    # rows are recomputed on demand.
    conn.execute("DELETE FROM analysis")


MIGRATIONS = (
    (1, "initial", _m001_initial),
    (2, "profiles_and_plans", _m002_profiles_and_plans),
    (3, "variant_settings_folders", _m003_variant_settings_folders),
    (4, "plan_inputs_templates_cache", _m004_plan_inputs_templates_cache),
    (5, "full_precision_analyses", _m005_full_precision_analyses),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL)"""


class Store:
    """One connection to one library's store. Not shared between threads."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self.conn = conn
        self.path = path
        self._depth = 0

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str, *, upto: int | None = None) -> "Store":
        """Open (creating if needed) and upgrade the store of `root`. `upto` stops migrations at a
        given version (tests use it to build the stores earlier versions wrote)."""
        state = os.path.join(root, STATE_DIR)
        try:
            os.makedirs(state, exist_ok=True)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise DiskFull("create folder", state) from None
            raise StoreError(f"cannot create '{state}': {exc.strerror or exc}") from None
        path = os.path.join(state, DB_NAME)
        store = cls(_connect(path), path)
        try:
            store.migrate(upto)
        except BaseException:
            store.close()                      # a failed upgrade (a full disk) keeps no connection open
            raise
        return store

    @classmethod
    def memory(cls) -> "Store":
        """A throwaway store (read-only folders, tests)."""
        store = cls(_connect(":memory:"), ":memory:")
        store.migrate()
        return store

    @classmethod
    def snapshot(cls, root: str) -> "Store":
        """An in-memory copy of `root`'s store (a fresh one if it has none): readers work on it
        while a writer holds the library, and nothing they do reaches the disk."""
        path = os.path.join(root, STATE_DIR, DB_NAME)
        conn = _connect(":memory:")
        if os.path.exists(path):
            try:
                src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
                try:
                    src.backup(conn)
                finally:
                    src.close()
            except sqlite3.DatabaseError:
                pass                                   # unreadable: start from an empty copy
        store = cls(conn, ":memory:")
        store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema --------------------------------------------------------------------------------

    def version(self) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return row[0] or 0

    def applied(self) -> list:
        return [tuple(r) for r in self.conn.execute("SELECT version, name FROM schema_version ORDER BY version")]

    def migrate(self, upto: int | None = None) -> list:
        """Apply every missing migration, each in its own transaction with its record."""
        try:
            self.conn.execute(_VERSION_TABLE)
            current = self.version()
        except sqlite3.DatabaseError as exc:
            raise _open_failure(exc, self.path) from None
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(f"'{self.path}' was written by a newer LoRA Atlas (schema {current}, this one knows "
                               f"{SCHEMA_VERSION}); upgrade LoRA Atlas")
        done = []
        for version, name, fn in MIGRATIONS:
            if upto is not None and version > upto:
                break
            if version <= current:
                continue
            with self.atomic():
                # Re-read inside the write lock: another process may have migrated meanwhile.
                if self.conn.execute("SELECT 1 FROM schema_version WHERE version = ?", (version,)).fetchone():
                    continue
                fn(_NoCommit(self.conn))
                self.conn.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", (version, name))
                done.append(name)
        return done

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic(self):
        """A transaction (BEGIN IMMEDIATE: the write lock is taken at once) or, nested, a savepoint."""
        if self._depth == 0:
            self.execute("BEGIN IMMEDIATE")
            commit, rollback = "COMMIT", ("ROLLBACK",)
        else:
            name = f"sp{self._depth}"
            self.execute(f"SAVEPOINT {name}")
            commit, rollback = f"RELEASE {name}", (f"ROLLBACK TO {name}", f"RELEASE {name}")
        self._depth += 1
        try:
            yield self
        except BaseException as exc:
            self._depth -= 1
            self._roll_back(rollback)
            if isinstance(exc, sqlite3.OperationalError):   # from the raw connection (migrations)
                self._raise_if_full(exc)
            raise
        self._depth -= 1
        try:
            self.conn.execute(commit)
        except sqlite3.Error as exc:
            # A COMMIT that fails (a full disk) must leave nothing half-done: roll back, then say why.
            self._roll_back(rollback)
            self._raise_if_full(exc)
            raise

    def _roll_back(self, statements) -> None:
        """Undo the open transaction or savepoint; SQLite may already have rolled it back itself
        (after SQLITE_FULL), and a failing ROLLBACK must not hide the error that caused it."""
        if not self.conn.in_transaction:
            return
        try:
            for stmt in statements:
                self.conn.execute(stmt)
        except sqlite3.Error:
            pass

    def _raise_if_full(self, exc: sqlite3.Error) -> None:
        if _disk_full(exc, self.path):
            raise DiskFull("write", self.path) from None

    def execute(self, sql: str, params=()):
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            self._raise_if_full(exc)
            raise

    def executemany(self, sql: str, rows):
        try:
            return self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            self._raise_if_full(exc)
            raise


class _NoCommit:
    """A connection proxy for migrations: `executescript` would COMMIT the open transaction, so
    scripts are split and run statement by statement inside it."""

    def __init__(self, conn):
        self._conn = conn

    def executescript(self, script: str) -> None:
        for stmt in _statements(script):
            self._conn.execute(stmt)

    def execute(self, sql, params=()):
        return self._conn.execute(sql, params)


def _statements(script: str):
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line.split("--", 1)[0] + ("\n" if "--" in line else "")
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


def _connect(path: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    except sqlite3.DatabaseError as exc:
        raise _open_failure(exc, path) from None


def _result_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of `exc` (Python < 3.11 only gives the message)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF
    message = str(exc)
    for words, code in (("database or disk is full", SQLITE_FULL), ("disk I/O error", SQLITE_IOERR),
                        ("file is not a database", SQLITE_NOTADB), ("malformed", SQLITE_CORRUPT)):
        if words in message:
            return code
    return None


def _disk_full(exc: sqlite3.Error, path: str) -> bool:
    """Whether `exc` means the disk holding `path` is full (SQLITE_FULL, or an I/O error with
    almost no space left: see LOW_SPACE_BYTES)."""
    code = _result_code(exc)
    if code == SQLITE_FULL:
        return True
    if code != SQLITE_IOERR or path == ":memory:":
        return False
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < LOW_SPACE_BYTES
    except OSError:
        return False


def _open_failure(exc: sqlite3.DatabaseError, path: str) -> StoreError | DiskFull:
    """The library error for a store that cannot be opened or upgraded. Only a file that is not
    a database (or is corrupt) is called damaged: the advice to move it away would cost the saved
    plans and profiles it holds if the real cause were a full disk or a permission."""
    if _disk_full(exc, path):
        return DiskFull("write", path)
    if _result_code(exc) in (SQLITE_NOTADB, SQLITE_CORRUPT):
        return StoreDamaged(f"'{path}' is not a usable SQLite database ({exc}); move it away (keep the copy: it "
                            "holds your saved plans and profiles) and run the command again")
    return StoreError(f"'{path}' cannot be opened ({exc}); check the folder's permissions and free space, "
                      "then run the command again")
