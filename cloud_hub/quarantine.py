"""The quarantine: where a message or item that cannot be applied goes, with the reason.

Called by ingest (bad items, inside the batch's own transaction so the sequence is consumed
atomically with the quarantine entry) and by the inbound handlers (bad envelopes, wrong sender),
so that one bad message never blocks the stream behind it. HQ reads it through the API.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from cloud_hub.db import Quarantine, table
from cloud_hub.schemas import QuarantineBrief, QuarantineEntry

_Q = table(Quarantine)

#: Payloads are kept for diagnosis, cut to this many characters so a flood cannot fill the disk.
MAX_PAYLOAD_CHARS = 64_000


def record(
    conn: Connection,
    *,
    store_id: str | None,
    topic: str,
    seq: int | None,
    reason: str,
    payload: str | bytes,
    now: datetime,
) -> None:
    """Write one quarantine entry in the caller's transaction."""
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    conn.execute(
        insert(_Q).values(
            store_id=store_id,
            topic=topic,
            seq=seq,
            reason=reason[:2000],
            payload=text[:MAX_PAYLOAD_CHARS],
            received_at=now,
        )
    )


def listing(
    conn: Connection, *, store_id: str | None = None, limit: int = 100
) -> list[QuarantineEntry]:
    """Newest entries first, optionally for one store."""
    stmt = select(_Q).order_by(_Q.c.id.desc()).limit(limit)
    if store_id is not None:
        stmt = stmt.where(_Q.c.store_id == store_id)
    return [QuarantineEntry.model_validate(row._mapping) for row in conn.execute(stmt)]


def open_briefs(conn: Connection, *, limit: int = 20) -> list[QuarantineBrief]:
    """The newest entries not replayed yet, without their payloads (for the dashboard)."""
    stmt = (
        select(*(c for c in _Q.c if c.name != "payload"))
        .where(_Q.c.replayed_at.is_(None))
        .order_by(_Q.c.id.desc())
        .limit(limit)
    )
    return [QuarantineBrief.model_validate(row._mapping) for row in conn.execute(stmt)]


def entry(conn: Connection, entry_id: int) -> QuarantineEntry | None:
    row = conn.execute(select(_Q).where(_Q.c.id == entry_id)).first()
    return None if row is None else QuarantineEntry.model_validate(row._mapping)
