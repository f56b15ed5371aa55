"""Named JSON documents kept in one store table each (`name`, `data`, `updated_at`): profiles and
plan templates share this create-or-replace / load / list / delete, and one NotFound message that
names the known ones."""

from __future__ import annotations

import json

from .clock import utc_now
from .errors import NotFound


def known_names(store, table: str) -> str:
    """'; known: a, b' (or a hint when there are none) for NotFound messages."""
    names = [r[0] for r in store.execute(f"SELECT name FROM {table} WHERE name IS NOT NULL ORDER BY name LIMIT 20")]
    return f"; known: {', '.join(names)}" if names else " (there are none yet)"


class NamedDocuments:
    """The documents of `table`, called a `what` in messages ("profile", "template")."""

    def __init__(self, table: str, what: str):
        self.table, self.what = table, what

    def save(self, store, name: str, doc) -> None:
        with store.atomic():
            store.execute(f"INSERT OR REPLACE INTO {self.table} (name, data, updated_at) VALUES (?, ?, ?)",
                          (name, json.dumps(doc, sort_keys=True), utc_now()))

    def load(self, store, name: str):
        row = store.execute(f"SELECT data FROM {self.table} WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no {self.what} named {name!r}{known_names(store, self.table)}")
        return json.loads(row["data"])

    def rows(self, store) -> list:
        """[(name, document, updated_at)] sorted by name."""
        return [(r["name"], json.loads(r["data"]), r["updated_at"])
                for r in store.execute(f"SELECT name, data, updated_at FROM {self.table} ORDER BY name")]

    def delete(self, store, name: str) -> None:
        with store.atomic():
            if store.execute(f"DELETE FROM {self.table} WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"no {self.what} named {name!r}{known_names(store, self.table)}")
