"""The hub's catalog: products and prices that HQ pushes to stores as ``CatalogUpsert``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub import commands
from cloud_hub.db import Product as ProductRow
from cloud_hub.db import table, upsert
from cloud_hub.schemas import ProductOut
from storelink_contract.commands import CatalogUpsert
from storelink_contract.common import Product

_P = table(ProductRow)

#: Products per ``CatalogUpsert`` command: keeps each command (and MQTT batch) modest.
PRODUCTS_PER_COMMAND = 500


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
    conn: Connection, *, limit: int = 1000, after_sku: str | None = None, q: str | None = None
) -> list[ProductOut]:
    """Products by sku, a page at a time (``after_sku`` is the last sku of the previous page);
    ``q`` keeps those whose sku, GTIN or name contains it (any case)."""
    stmt = select(_P).order_by(_P.c.sku).limit(limit)
    if after_sku is not None:
        stmt = stmt.where(_P.c.sku > after_sku)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            _P.c.sku.ilike(pattern, escape="\\")
            | _P.c.gtin.ilike(pattern, escape="\\")
            | _P.c.name.ilike(pattern, escape="\\")
        )
    return [ProductOut.model_validate(r._mapping) for r in conn.execute(stmt)]


def send_to_stores(
    conn: Connection, products: Sequence[Product], store_ids: Sequence[str], now: datetime
) -> dict[str, int]:
    """Queue ``products`` for ``store_ids`` as ``CatalogUpsert`` commands of at most
    ``PRODUCTS_PER_COMMAND`` each; returns the last command sequence per store."""
    seqs: dict[str, int] = {}
    for i in range(0, len(products), PRODUCTS_PER_COMMAND):
        part = tuple(products[i : i + PRODUCTS_PER_COMMAND])
        seqs.update(commands.enqueue(conn, store_ids, CatalogUpsert(at=now, products=part), now))
    return seqs


def as_products(rows: Sequence[ProductOut]) -> list[Product]:
    """The wire form of catalog rows."""
    return [
        Product(sku=r.sku, gtin=r.gtin, name=r.name, price_cents=r.price_cents, category=r.category)
        for r in rows
    ]
