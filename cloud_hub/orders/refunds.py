"""Refunds to the original tenders, split as the order was paid.

Recorded here (the payment processor is told by the finance integration that reads this
table); ``(source, ref, tender_no)`` is unique, so the event that causes a refund can be
replayed without refunding twice.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub.db import table, upsert
from cloud_hub.orders.tables import OrderTender, Refund

_T = table(OrderTender)
_R = table(Refund)


class RefundOut(BaseModel):
    """A refund as the customer channel and HQ see it: card tenders by last four digits."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    source: str
    tender_no: int
    kind: str
    amount_cents: int
    last4: str | None
    store_id: str | None
    reason: str
    at: datetime


def refund_order(
    conn: Connection,
    order_id: str,
    *,
    source: str,
    ref: str,
    reason: str,
    now: datetime,
    store_id: str | None = None,
) -> int:
    """Refund every tender of the order in full; return the cents refunded (0 on a replay)."""
    tenders = conn.execute(select(_T).where(_T.c.order_id == order_id).order_by(_T.c.tender_no))
    total = 0
    for t in tenders:
        cur = conn.execute(
            upsert(conn, _R)
            .values(
                order_id=order_id,
                source=source,
                ref=ref[:100],
                tender_no=t.tender_no,
                kind=t.kind,
                amount_cents=t.amount_cents,
                processor_token=t.processor_token,
                card_hash=t.card_hash,
                last4=t.last4,
                store_id=store_id,
                reason=reason[:2000],
                at=now,
            )
            .on_conflict_do_nothing(index_elements=["source", "ref", "tender_no"])
        )
        total += int(t.amount_cents) if cur.rowcount else 0
    return total


def for_order(conn: Connection, order_id: str) -> list[RefundOut]:
    rows = conn.execute(select(_R).where(_R.c.order_id == order_id).order_by(_R.c.id))
    return [RefundOut.model_validate(r._mapping) for r in rows]
