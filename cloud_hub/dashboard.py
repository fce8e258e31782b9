"""What the HQ dashboard shows in one read: the fleet, orders, returns, alerts, quarantine,
stock alerts and count accuracy.

One function over one read transaction, so every number on the screen is from the same
moment. The dashboard's live stream sends it again whenever it changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.engine import Connection

from cloud_hub import alerts, counts, fleet, quarantine
from cloud_hub.alerts import AlertOut
from cloud_hub.counts import StoreAccuracy
from cloud_hub.db import Quarantine, SafetyStock, StoreStock, table
from cloud_hub.orders import views
from cloud_hub.orders.tables import ACTIVE_STATUSES, Alert, OnlineOrder, committed_units
from cloud_hub.returns.tables import PurchaseReturn
from cloud_hub.schemas import QuarantineBrief, StoreStatus

_O = table(OnlineOrder)
_A = table(Alert)
_PR = table(PurchaseReturn)
_Q = table(Quarantine)
_ST = table(StoreStock)
_SS = table(SafetyStock)

#: An order that has not moved for this long while open is "stuck".
STUCK_AFTER = timedelta(hours=4)
#: A ready order whose hold ends within this is "expiring".
EXPIRING_WITHIN = timedelta(hours=12)
LOW_STOCK = 2


class OrderBrief(BaseModel):
    order_id: str
    status: str
    method: str
    store_id: str | None
    updated_at: datetime
    pickup_expires_at: datetime | None


class StockAlert(BaseModel):
    store_id: str
    sku: str
    on_hand: int
    available: int


class ReturnBrief(BaseModel):
    store_id: str
    return_id: str
    purchase_id: str | None
    origin: str
    total_cents: int
    flagged: str | None
    at: datetime


class Summary(BaseModel):
    at: datetime
    currency: str
    stores: list[StoreStatus]
    orders_by_status: dict[str, dict[str, int]]
    stuck_orders: list[OrderBrief]
    expiring_orders: list[OrderBrief]
    returns_7d: int
    refunded_cents_7d: int
    store_credit_cents_7d: int
    flagged_returns: list[ReturnBrief]
    open_alerts: int
    alerts: list[AlertOut]
    quarantined: int
    quarantine: list[QuarantineBrief]
    negative_stock: list[StockAlert]
    low_stock: list[StockAlert]
    count_accuracy: list[StoreAccuracy]


def summary(conn: Connection, now: datetime, currency: str = "EUR") -> Summary:
    week_ago = now - timedelta(days=7)
    returns_7d, refunded, credit = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(_PR.c.refunded_to_tenders_cents), 0),
            func.coalesce(func.sum(_PR.c.store_credit_cents), 0),
        ).where(_PR.c.at >= week_ago)
    ).one()
    flagged = [
        ReturnBrief.model_validate(dict(r._mapping))
        for r in conn.execute(
            select(_PR).where(_PR.c.flagged.is_not(None)).order_by(_PR.c.at.desc()).limit(20)
        )
    ]
    negative, low = _stock_alerts(conn)
    return Summary(
        at=now,
        currency=currency,
        stores=fleet.statuses(conn),
        orders_by_status=views.counts(conn),
        stuck_orders=_orders(
            conn,
            and_(
                _O.c.status.in_((*ACTIVE_STATUSES[:-1], "in_transit")),
                _O.c.updated_at < now - STUCK_AFTER,
            ),
        ),
        expiring_orders=_orders(
            conn,
            and_(_O.c.status == "ready", _O.c.pickup_expires_at < now + EXPIRING_WITHIN),
        ),
        returns_7d=int(returns_7d),
        refunded_cents_7d=int(refunded),
        store_credit_cents_7d=int(credit),
        flagged_returns=flagged,
        open_alerts=int(
            conn.execute(
                select(func.count()).select_from(_A).where(_A.c.acknowledged_at.is_(None))
            ).scalar_one()
        ),
        alerts=alerts.listing(conn, open_only=True, limit=20),
        quarantined=int(
            conn.execute(
                select(func.count()).select_from(_Q).where(_Q.c.replayed_at.is_(None))
            ).scalar_one()
        ),
        quarantine=quarantine.open_briefs(conn, limit=20),
        negative_stock=negative,
        low_stock=low,
        count_accuracy=counts.latest_by_store(conn),
    )


def _orders(conn: Connection, where: ColumnElement[bool]) -> list[OrderBrief]:
    rows = conn.execute(select(_O).where(where).order_by(_O.c.updated_at).limit(20))
    return [OrderBrief.model_validate(dict(r._mapping)) for r in rows]


def _stock_alerts(conn: Connection) -> tuple[list[StockAlert], list[StockAlert]]:
    held = committed_units()
    rows = conn.execute(
        select(
            _ST.c.store_id,
            _ST.c.sku,
            _ST.c.on_hand,
            _ST.c.on_hand - func.coalesce(_SS.c.quantity, 0) - func.coalesce(held.c.committed, 0),
        )
        .outerjoin(_SS, and_(_SS.c.store_id == _ST.c.store_id, _SS.c.sku == _ST.c.sku))
        .outerjoin(held, and_(held.c.store_id == _ST.c.store_id, held.c.sku == _ST.c.sku))
        .where(
            (_ST.c.on_hand < 0)
            | (
                _ST.c.on_hand
                - func.coalesce(_SS.c.quantity, 0)
                - func.coalesce(held.c.committed, 0)
                <= LOW_STOCK
            )
        )
        .order_by(_ST.c.on_hand, _ST.c.store_id, _ST.c.sku)
        .limit(200)
    ).all()
    negative = [
        StockAlert(store_id=s, sku=k, on_hand=q, available=max(0, a))
        for s, k, q, a in rows
        if q < 0
    ]
    low = [
        StockAlert(store_id=s, sku=k, on_hand=q, available=max(0, a))
        for s, k, q, a in rows
        if q >= 0
    ]
    return negative[:50], low[:50]
