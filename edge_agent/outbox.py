"""The transactional outbox of the store's event stream.

``append`` runs inside the caller's write transaction, so a sale and the event that reports it
commit together or not at all. The event is serialised once, here; the uplink joins the stored
texts into batches without parsing them again. ``seq`` is SQLite AUTOINCREMENT: never reused,
and a rolled-back insert rolls its number back too, so the stream has no holes. Rows are deleted
only when the hub's application-level ack covers them.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

from storelink_contract.common import EventBase

EVENTS_ACKED = "events_acked"
COMMANDS_APPLIED = "commands_applied"


@dataclass(frozen=True, slots=True)
class Backlog:
    depth: int
    oldest_age_s: float
    last_seq: int


def append(conn: sqlite3.Connection, event: EventBase) -> int:
    """Add an event to the outbox in the current transaction; return its sequence."""
    cur = conn.execute(
        "INSERT INTO outbox (type, payload, created_at) VALUES (?, ?, ?)",
        (getattr(event, "type", type(event).__name__), event.model_dump_json(), time.time()),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def read_from(conn: sqlite3.Connection, first_seq: int, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` contiguous (seq, payload) rows starting at ``first_seq``."""
    rows = conn.execute(
        "SELECT seq, payload FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
        (first_seq, limit),
    ).fetchall()
    contiguous: list[tuple[int, str]] = []
    expected = first_seq
    for seq, payload in rows:
        if seq != expected:
            break
        contiguous.append((seq, payload))
        expected += 1
    return contiguous


def acknowledge(conn: sqlite3.Connection, upto: int) -> None:
    """The hub has durably applied everything up to ``upto``: forget it here."""
    conn.execute("DELETE FROM outbox WHERE seq <= ?", (upto,))
    set_position(conn, EVENTS_ACKED, upto)


def position(conn: sqlite3.Connection, stream: str) -> int:
    row = conn.execute("SELECT position FROM sync_position WHERE stream = ?", (stream,)).fetchone()
    return int(row[0]) if row else 0


def set_position(conn: sqlite3.Connection, stream: str, value: int) -> None:
    conn.execute(
        "INSERT INTO sync_position (stream, position) VALUES (?, ?) "
        "ON CONFLICT (stream) DO UPDATE SET position = excluded.position "
        "WHERE excluded.position > sync_position.position",
        (stream, value),
    )


def last_assigned(conn: sqlite3.Connection) -> int:
    """The highest sequence this store has ever given an event (AUTOINCREMENT's mark)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return int(row[0]) if row else 0


def stream_epoch(conn: sqlite3.Connection) -> str:
    """This database's stream epoch, created with the database (call inside a write).

    Sent with every batch, so the hub can tell a restarted numbering (a wiped or replaced
    database has a new epoch) from a resend of the same stream.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'stream_epoch'").fetchone()
    if row is not None:
        return str(row[0])
    epoch = secrets.token_hex(8)
    conn.execute("INSERT INTO meta (key, value) VALUES ('stream_epoch', ?)", (epoch,))
    return epoch


def rebase(conn: sqlite3.Connection, after: int) -> int:
    """Renumber the unsent events to follow ``after``, the hub's applied position.

    For a store whose database was wiped or restored: its new events reuse sequences the hub
    has already applied, and the hub refuses them as a conflicting stream. Renumbering keeps
    their order and makes them the continuation of what the hub has. Returns how many events
    were renumbered. Run with the agent stopped (the caller holds the database lock).
    """
    first, count = conn.execute("SELECT min(seq), count(*) FROM outbox").fetchone()
    if count:
        offset = after + 1 - int(first)
        # Two steps through negative numbers, so no row ever collides with another mid-update.
        conn.execute("UPDATE outbox SET seq = -(seq + ?)", (offset,))
        conn.execute("UPDATE outbox SET seq = -seq")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
    conn.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (after + int(count),)
    )
    conn.execute(
        "INSERT INTO sync_position (stream, position) VALUES (?, ?) "
        "ON CONFLICT (stream) DO UPDATE SET position = excluded.position",
        (EVENTS_ACKED, after),
    )
    # A new epoch: the hub accepts a new stream only when it continues exactly after its
    # applied position, which is what this renumbering produces.
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('stream_epoch', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (secrets.token_hex(8),),
    )
    return int(count)


def backlog(conn: sqlite3.Connection, now: float | None = None) -> Backlog:
    depth, oldest, last = conn.execute(
        "SELECT count(*), min(created_at), max(seq) FROM outbox"
    ).fetchone()
    if last is None:
        last = last_assigned(conn)
    age = 0.0 if oldest is None else max(0.0, (now or time.time()) - oldest)
    return Backlog(depth=int(depth), oldest_age_s=age, last_seq=int(last))
