"""The hub's stock views: one sku across every store, one store's whole view, safety stock.

Read by the HQ API; safety stock is written here too because it changes what is available to
promise (on-hand minus safety stock, never below zero) and so what the fan-out tells kiosks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Connection, Row

from cloud_hub.db import SafetyStock, Store, StoreStock, table, upsert
from cloud_hub.orders.tables import committed_units
from cloud_hub.schemas import SkuAcrossStores, StoreSkuStock, StoreStockView
from storelink_contract.commands import SafetyStockLevel

_ST = table(StoreStock)
_SS = table(SafetyStock)
_S = table(Store)


def _rows_query() -> Select[Any]:
    held = committed_units()
    return (
        select(
            _ST.c.store_id,
            _ST.c.sku,
            _ST.c.on_hand,
            func.coalesce(_SS.c.quantity, 0).label("safety_stock"),
            func.coalesce(held.c.committed, 0).label("committed"),
            func.coalesce(_S.c.last_event_at, _ST.c.updated_at).label("as_of"),
            _S.c.online,
        )
        .select_from(_ST)
        .join(_S, _S.c.store_id == _ST.c.store_id)
        .outerjoin(_SS, and_(_SS.c.store_id == _ST.c.store_id, _SS.c.sku == _ST.c.sku))
        .outerjoin(held, and_(held.c.store_id == _ST.c.store_id, held.c.sku == _ST.c.sku))
    )


def _row(r: Row[Any]) -> StoreSkuStock:
    m = r._mapping
    return StoreSkuStock(
        store_id=m["store_id"],
        sku=m["sku"],
        on_hand=m["on_hand"],
        safety_stock=m["safety_stock"],
        committed=int(m["committed"]),
        available=max(0, m["on_hand"] - m["safety_stock"] - int(m["committed"])),
        as_of=m["as_of"],
        online=m["online"],
    )


def sku_across_stores(conn: Connection, sku: str) -> SkuAcrossStores:
    """Every store's on-hand and available for ``sku``, highest available first."""
    stores = [_row(r) for r in conn.execute(_rows_query().where(_ST.c.sku == sku))]
    stores.sort(key=lambda s: (-s.available, s.store_id))
    return SkuAcrossStores(
        sku=sku,
        total_on_hand=sum(s.on_hand for s in stores),
        total_available=sum(s.available for s in stores),
        stores=stores,
    )


def store_view(conn: Connection, store_id: str) -> StoreStockView:
    """One store's whole view, by sku."""
    items = [
        _row(r)
        for r in conn.execute(_rows_query().where(_ST.c.store_id == store_id).order_by(_ST.c.sku))
    ]
    as_of = conn.execute(
        select(_S.c.last_event_at).where(_S.c.store_id == store_id)
    ).scalar_one_or_none()
    return StoreStockView(store_id=store_id, as_of=as_of, items=items)


def set_safety_stock(
    conn: Connection, store_id: str, levels: Iterable[SafetyStockLevel], now: datetime
) -> list[str]:
    """Store the levels for ``store_id``; returns the skus set."""
    rows = [
        {"store_id": store_id, "sku": lv.sku, "quantity": lv.quantity, "updated_at": now}
        for lv in levels
    ]
    if not rows:
        return []
    stmt = upsert(conn, _SS)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["store_id", "sku"],
            set_={"quantity": stmt.excluded.quantity, "updated_at": stmt.excluded.updated_at},
        ),
        rows,
    )
    return [str(r["sku"]) for r in rows]
