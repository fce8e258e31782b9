"""HQ alerts: what stores raised (``store_alert`` events) and what the hub raises itself.

Written in the transaction of whatever caused them; ``ref`` is unique, so a replayed event or
a retried job adds nothing. HQ reads and acknowledges them through the API.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cloud_hub.db import table, upsert
from cloud_hub.orders.tables import Alert

_A = table(Alert)


class AlertOut(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    store_id: str | None
    kind: str
    severity: str
    subject: str
    message: str
    at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


def record(
    conn: Connection,
    *,
    ref: str,
    kind: str,
    message: str,
    at: datetime,
    store_id: str | None = None,
    severity: str = "warning",
    subject: str = "",
) -> None:
    """Add an alert once per ``ref`` (in the caller's transaction)."""
    conn.execute(
        upsert(conn, _A)
        .values(
            ref=ref[:100],
            store_id=store_id,
            kind=kind[:64],
            severity=severity,
            subject=subject[:100],
            message=message,
            at=at,
        )
        .on_conflict_do_nothing(index_elements=["ref"])
    )


def listing(
    conn: Connection,
    *,
    store_id: str | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> list[AlertOut]:
    """Newest first."""
    stmt = select(_A).order_by(_A.c.at.desc(), _A.c.id.desc()).limit(limit)
    if store_id is not None:
        stmt = stmt.where(_A.c.store_id == store_id)
    if open_only:
        stmt = stmt.where(_A.c.acknowledged_at.is_(None))
    return [AlertOut.model_validate(r._mapping) for r in conn.execute(stmt)]


def acknowledge(conn: Connection, alert_id: int, by: str, now: datetime) -> bool:
    cur = conn.execute(
        update(_A)
        .where(_A.c.id == alert_id, _A.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by[:64])
    )
    return bool(cur.rowcount)
