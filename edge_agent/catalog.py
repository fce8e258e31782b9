"""The store's copy of the catalog, kept by the hub's ``catalog_upsert`` commands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from edge_agent.clock import iso
from storelink_contract.common import Product


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    sku: str
    gtin: str | None
    name: str
    price_cents: int
    category: str


def find(conn: sqlite3.Connection, sku_or_gtin: str) -> CatalogEntry | None:
    """Look a product up by sku, or by GTIN (what a scanner reads); GTIN-12/13/14 all match."""
    row = conn.execute(
        "SELECT sku, gtin, name, price_cents, category FROM product WHERE sku = ?",
        (sku_or_gtin,),
    ).fetchone()
    if row is None and sku_or_gtin.isdigit():
        row = conn.execute(
            "SELECT sku, gtin, name, price_cents, category FROM product WHERE gtin = ?",
            (normalise_gtin(sku_or_gtin),),
        ).fetchone()
    return CatalogEntry(*row) if row else None


def normalise_gtin(gtin: str) -> str:
    """GTIN-14 form, so an EAN-8, a UPC-A, an EAN-13 and the GTIN-14 of the same item compare
    equal (scanners and SGTIN decoding report GTIN-14)."""
    return gtin.zfill(14) if len(gtin) in (8, 12, 13, 14) else gtin


def upsert(conn: sqlite3.Connection, products: Iterable[Product], at: datetime) -> None:
    """Add or change products. A GTIN moved to another sku is taken off the old one first."""
    stamp = iso(at)
    for p in products:
        gtin = normalise_gtin(p.gtin) if p.gtin else None
        if gtin is not None:
            conn.execute(
                "UPDATE product SET gtin = NULL WHERE gtin = ? AND sku != ?", (gtin, p.sku)
            )
        conn.execute(
            "INSERT INTO product (sku, gtin, name, price_cents, category, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET gtin = excluded.gtin, "
            "name = excluded.name, price_cents = excluded.price_cents, "
            "category = excluded.category, updated_at = excluded.updated_at",
            (p.sku, gtin, p.name, p.price_cents, p.category, stamp),
        )
