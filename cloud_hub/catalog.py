"""The hub's catalog: products and prices that HQ pushes to stores as ``CatalogUpsert``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub.db import Product as ProductRow
from cloud_hub.db import table, upsert
from cloud_hub.schemas import ProductOut
from storelink_contract.common import Product

_P = table(ProductRow)


def upsert_products(conn: Connection, products: Sequence[Product], now: datetime) -> None:
    """Insert or replace products (the newest push wins; prices are HQ's to set)."""
    if not products:
        return
    rows = [{**p.model_dump(), "updated_at": now} for p in products]
    stmt = upsert(conn, _P)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["sku"],
            set_={
                c: stmt.excluded[c]
                for c in ("gtin", "name", "price_cents", "category", "updated_at")
            },
        ),
        rows,
    )


def products(
    conn: Connection, *, limit: int = 1000, after_sku: str | None = None
) -> list[ProductOut]:
    """Products by sku, a page at a time (``after_sku`` is the last sku of the previous page)."""
    stmt = select(_P).order_by(_P.c.sku).limit(limit)
    if after_sku is not None:
        stmt = stmt.where(_P.c.sku > after_sku)
    return [ProductOut.model_validate(r._mapping) for r in conn.execute(stmt)]
