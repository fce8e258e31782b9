"""Cycle count accuracy per store, for HQ: how far each count found the books from the shelf.

Every count a store reports (``stock_adjusted`` with ``counted_skus``) is kept here at ingest:
the skus it covered, how many of them were off, and by how many units. Accuracy is the share
of counted skus the books had right.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from cloud_hub.db import table, upsert, utc_field
from storelink_contract.events import StockAdjusted


class CountResult(SQLModel, table=True):
    __tablename__ = "count_result"

    store_id: str = Field(primary_key=True, max_length=32)
    count_id: str = Field(primary_key=True, max_length=64)
    method: str = Field(max_length=16)
    skus_counted: int
    skus_off: int
    units_off: int
    units_counted: int
    at: datetime = utc_field(index=True)


_C = table(CountResult)
COUNT_TABLES: tuple[type[SQLModel], ...] = (CountResult,)


class StoreAccuracy(BaseModel):
    store_id: str
    method: str
    accuracy: float
    skus_counted: int
    skus_off: int
    units_off: int
    counted_at: datetime


def record(conn: Connection, store_id: str, event: StockAdjusted) -> None:
    if event.counted_skus is None:
        return
    conn.execute(
        upsert(conn, _C)
        .values(
            store_id=store_id,
            count_id=event.adjustment_id,
            method=event.count_method or "manual",
            skus_counted=event.counted_skus,
            skus_off=len({d.sku for d in event.deltas}),
            units_off=sum(abs(d.delta) for d in event.deltas),
            units_counted=event.counted_units or 0,
            at=event.at,
        )
        .on_conflict_do_nothing(index_elements=["store_id", "count_id"])
    )


def latest_by_store(conn: Connection) -> list[StoreAccuracy]:
    """Each store's most recent count (picked in the database, however many counts there are)."""
    newest = select(_C.c.store_id, func.max(_C.c.at).label("at")).group_by(_C.c.store_id).subquery()
    rows = conn.execute(
        select(_C)
        .join(newest, and_(newest.c.store_id == _C.c.store_id, newest.c.at == _C.c.at))
        .order_by(_C.c.count_id)
    )
    latest: dict[str, StoreAccuracy] = {}
    for row in rows:
        counted = max(1, row.skus_counted)
        latest[row.store_id] = StoreAccuracy(
            store_id=row.store_id,
            method=row.method,
            accuracy=round(1.0 - row.skus_off / counted, 4),
            skus_counted=row.skus_counted,
            skus_off=row.skus_off,
            units_off=row.units_off,
            counted_at=row.at,
        )
    return sorted(latest.values(), key=lambda a: (a.accuracy, a.store_id))
