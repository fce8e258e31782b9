"""An order's status and its timeline, changed together.

Every status change of an order goes through ``advance``, which updates the order row and
appends the step to ``order_timeline`` in the caller's transaction: the customer channel and
HQ read one history, with no step missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from cloud_hub.db import table
from cloud_hub.orders.tables import OnlineOrder, OrderTimeline

_O = table(OnlineOrder)
_TL = table(OrderTimeline)


def add(
    conn: Connection,
    order_id: str,
    status: str,
    now: datetime,
    *,
    store_id: str | None = None,
    detail: str = "",
) -> None:
    """Append a step to the timeline without changing the order's status (a note)."""
    conn.execute(
        insert(_TL).values(
            order_id=order_id, at=now, status=status, store_id=store_id, detail=detail[:2000]
        )
    )


def advance(
    conn: Connection,
    order_id: str,
    status: str,
    now: datetime,
    *,
    store_id: str | None = None,
    detail: str = "",
    **values: Any,
) -> None:
    """Move the order to ``status`` (plus any other columns in ``values``) and record it."""
    conn.execute(
        update(_O).where(_O.c.order_id == order_id).values(status=status, updated_at=now, **values)
    )
    add(conn, order_id, status, now, store_id=store_id, detail=detail)
