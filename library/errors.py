"""What can go wrong with a library on disk, one class per cause.

    LibraryError                     base; `str(exc)` is one line naming the path and the fix
    ├── NotALibraryRoot              DIR is missing, not a folder, or inside another library
    ├── LibraryBusy                  another organize/clean/undo holds the library's lock
    ├── StoreError                   the SQLite store under <root>/.lora-atlas/
    │   ├── SchemaTooNew             written by a newer LoRA Atlas
    │   └── StoreDamaged             not a database any more
    ├── FilesystemError              a move or a write failed; carries `verb`, `src`, `dst`
    │   ├── DestinationExists        a move would have overwritten something
    │   └── DiskFull                 the disk (or quota) is full: free space and run again
    ├── JournalError                 the move journal cannot be read or written
    ├── NothingToUndo                no organize left to roll back
    ├── NotFound                     no LoRA, saved plan, template or profile of that name or id
    ├── InvalidPath                  a user-given path that cannot name a file (empty, NUL, too long)
    ├── OutsideRoots                 a path that leaves the configured LoRA roots ('..', links)
    ├── ConfigConflict               a LoRA's config.yaml is missing or unreadable: fix it first
    └── InvalidDocument              a request, plan, template or profile that cannot be kept; lists every problem
        └── NameTaken                a plan of that name exists already

Beside them, ConfigUnreadable (a ValueError): one config.yaml that is not a YAML mapping, reported
per file while the library reads on. Bad LoRA files are not errors here: they are quarantined with
the engine's `InspectError` reason.
"""

from __future__ import annotations


class LibraryError(Exception):
    """Base of every library failure; the message is meant for the user as it is."""


class NotALibraryRoot(LibraryError):
    pass


class LibraryBusy(LibraryError):
    pass


class StoreError(LibraryError):
    pass


class SchemaTooNew(StoreError):
    pass


class StoreDamaged(StoreError):
    pass


class FilesystemError(LibraryError):
    """A file operation failed: `verb` ('move', 'write', ...), the paths involved and the reason."""

    def __init__(self, reason: str, verb: str, src: str, dst: str | None = None):
        self.reason, self.verb, self.src, self.dst = reason, verb, src, dst
        where = f"'{src}' to '{dst}'" if dst is not None else f"'{src}'"
        super().__init__(f"could not {verb} {where}: {reason}")


class DestinationExists(FilesystemError):
    def __init__(self, verb: str, src: str, dst: str):
        super().__init__("the destination already exists (nothing was overwritten)", verb, src, dst)


class DiskFull(FilesystemError):
    """No space left (ENOSPC, EDQUOT, SQLite's "database or disk is full") wherever it happens: the
    lock file, the store, a journaled write. One error and one piece of advice, never a traceback
    nor "the database is damaged, move it away" (it holds saved plans and profiles)."""

    def __init__(self, verb: str, src: str, dst: str | None = None):
        super().__init__("the disk is full; free some space on it and run the command again", verb, src, dst)


class JournalError(LibraryError):
    pass


class NothingToUndo(LibraryError):
    pass


class NotFound(LibraryError):
    pass


class InvalidPath(LibraryError):
    pass


class OutsideRoots(LibraryError):
    pass


class ConfigConflict(LibraryError):
    pass


class InvalidDocument(LibraryError):
    """`problems` lists every reason, one line each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class NameTaken(InvalidDocument):
    pass


class ConfigUnreadable(ValueError):
    """config.yaml exists but is not a YAML mapping; the message says where. (Not a LibraryError:
    the library reads on and reports it per file.)"""
