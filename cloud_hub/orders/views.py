"""Orders as the customer channel and HQ read them: lines, tenders, timeline, refunds.

Tenders show their kind, amount and last four digits only; processor tokens and card hashes
never leave the hub. A channel sees only the orders it placed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from cloud_hub.db import table
from cloud_hub.errors import NotFound
from cloud_hub.orders import refunds
from cloud_hub.orders.tables import Allocation, OnlineOrder, OrderLine, OrderTender, OrderTimeline

_O = table(OnlineOrder)
_L = table(OrderLine)
_T = table(OrderTender)
_TL = table(OrderTimeline)
_A = table(Allocation)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class LineOut(_Out):
    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


class TenderOut(_Out):
    tender_no: int
    kind: str
    amount_cents: int
    last4: str | None


class StepOut(_Out):
    at: datetime
    status: str
    store_id: str | None
    detail: str


class AllocationOut(_Out):
    allocation_id: str
    store_id: str
    attempt: int
    status: str
    reason: str
    created_at: datetime
    decided_at: datetime | None


class OrderSummary(_Out):
    order_id: str
    channel: str
    client_order_id: str
    status: str
    method: str
    store_id: str | None
    customer_name: str
    total_cents: int
    location_label: str | None
    pickup_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OrderOut(OrderSummary):
    loyalty_id: str | None
    requested_store_id: str | None
    location_kind: str | None
    location_id: str | None
    lines: list[LineOut]
    tenders: list[TenderOut]
    timeline: list[StepOut]
    allocations: list[AllocationOut]
    refunds: list[refunds.RefundOut]


def order(conn: Connection, order_id: str, channel: str | None = None) -> OrderOut:
    """One order in full; ``NotFound`` if it does not exist or belongs to another channel."""
    row = conn.execute(select(_O).where(_O.c.order_id == order_id)).first()
    if row is None or (channel is not None and row.channel != channel):
        raise NotFound(f"no order {order_id}")
    return OrderOut.model_validate(
        {
            **row._mapping,
            "lines": _rows(
                conn, select(_L).where(_L.c.order_id == order_id).order_by(_L.c.line_no)
            ),
            "tenders": _rows(
                conn, select(_T).where(_T.c.order_id == order_id).order_by(_T.c.tender_no)
            ),
            "timeline": _rows(
                conn, select(_TL).where(_TL.c.order_id == order_id).order_by(_TL.c.id)
            ),
            "allocations": _rows(
                conn, select(_A).where(_A.c.order_id == order_id).order_by(_A.c.attempt)
            ),
            "refunds": refunds.for_order(conn, order_id),
        }
    )


def by_client_id(conn: Connection, channel: str, client_order_id: str) -> str | None:
    found = conn.execute(
        select(_O.c.order_id).where(
            _O.c.channel == channel, _O.c.client_order_id == client_order_id
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)


def listing(
    conn: Connection,
    *,
    status: str | None = None,
    store_id: str | None = None,
    channel: str | None = None,
    limit: int = 100,
) -> list[OrderSummary]:
    """Newest first."""
    stmt = select(_O).order_by(_O.c.created_at.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(_O.c.status == status)
    if store_id is not None:
        stmt = stmt.where(_O.c.store_id == store_id)
    if channel is not None:
        stmt = stmt.where(_O.c.channel == channel)
    return [OrderSummary.model_validate(r._mapping) for r in conn.execute(stmt)]


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Orders by status and fulfilment method (for the dashboard)."""
    out: dict[str, dict[str, int]] = {}
    for status, method, n in conn.execute(
        select(_O.c.status, _O.c.method, func.count()).group_by(_O.c.status, _O.c.method)
    ):
        out.setdefault(status, {})[method] = int(n)
    return out


def _rows(conn: Connection, stmt: Select[tuple[object, ...]]) -> list[dict[str, object]]:
    return [dict(r._mapping) for r in conn.execute(stmt)]
