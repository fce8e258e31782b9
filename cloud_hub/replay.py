"""Replaying a quarantined message after the cause is fixed (an operator's action).

Only a single event the hub set aside can be replayed: it is applied at its own stream
position, as it would have been. A whole message set aside (a bad envelope, a payload claiming
another store, a stream conflict) is not replayable: its contents were never trusted, and the
store sends what matters again. Each entry is replayed at most once; a replay that still fails
leaves the entry as it was and says why.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cloud_hub.db import Quarantine, table
from cloud_hub.errors import Conflict, EventRefused, Invalid, NotFound
from cloud_hub.ingest import replay_item
from cloud_hub.orders.rules import OrderRules

_Q = table(Quarantine)


def replay(
    conn: Connection, entry_id: int, now: datetime, rules: OrderRules
) -> tuple[str, set[str]]:
    """Apply quarantine entry ``entry_id``; returns its store and the skus it changed."""
    entry = conn.execute(select(_Q).where(_Q.c.id == entry_id).with_for_update()).first()
    if entry is None:
        raise NotFound(f"no quarantine entry {entry_id}")
    if entry.replayed_at is not None:
        raise Conflict(f"entry {entry_id} was replayed at {entry.replayed_at:%Y-%m-%d %H:%M} UTC")
    if entry.seq is None or entry.store_id is None or not entry.topic.endswith("/up/events"):
        raise Conflict(
            f"entry {entry_id} is a whole message ({entry.reason[:80]}): it cannot be replayed; "
            "the store sends its events again"
        )
    try:
        item = json.loads(entry.payload)
    except json.JSONDecodeError as exc:
        raise Invalid(f"entry {entry_id} does not hold a readable event: {exc}") from exc
    if not isinstance(item, dict):
        raise Invalid(f"entry {entry_id} does not hold an event object")
    try:
        changed = replay_item(conn, entry.store_id, entry.seq, item, now, rules)
    except EventRefused as exc:
        raise Invalid(str(exc)) from exc
    conn.execute(update(_Q).where(_Q.c.id == entry_id).values(replayed_at=now))
    return str(entry.store_id), changed
