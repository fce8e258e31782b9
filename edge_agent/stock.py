"""Stock lookup for kiosks, tills and staff: this store's figure and other stores' figures.

Available-to-promise here is on-hand minus reserved (online orders, kiosk carts) minus safety
stock, never below zero. Other stores' figures come from the hub's last ``stock_view``, each
with its ``as_of`` and age, so a kiosk cut off from the hub can still say "3 at Store B, as of
12 minutes ago" instead of nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from pydantic import BaseModel, Field

from edge_agent import catalog
from edge_agent.clock import parse


class HereStock(BaseModel):
    store_id: str
    on_hand: int
    reserved: int = Field(description="Held for online orders and kiosk carts")
    safety_stock: int
    available: int = Field(
        description="Available to promise: on-hand - reserved - safety stock, >= 0"
    )
    needs_count: bool


class PeerStockFigure(BaseModel):
    store_id: str
    on_hand: int
    available: int
    as_of: datetime
    age_s: float = Field(description="How old this figure is, in seconds")


class StockLookup(BaseModel):
    sku: str
    gtin: str | None
    name: str | None
    price_cents: int | None
    here: HereStock
    other_stores: list[PeerStockFigure]


def lookup(
    conn: sqlite3.Connection, store_id: str, sku_or_gtin: str, now: datetime
) -> StockLookup | None:
    """Everything a kiosk shows for one product, or None when nobody has heard of it."""
    product = catalog.find(conn, sku_or_gtin)
    sku = product.sku if product else sku_or_gtin
    row = conn.execute(
        "SELECT s.on_hand, s.needs_count, coalesce(ss.quantity, 0), s.reserved FROM stock s "
        "LEFT JOIN safety_stock ss ON ss.sku = s.sku WHERE s.sku = ?",
        (sku,),
    ).fetchone()
    if row is None:
        if product is None:
            return None
        safety = conn.execute("SELECT quantity FROM safety_stock WHERE sku = ?", (sku,)).fetchone()
        row = (0, 0, safety[0] if safety else 0, 0)
    on_hand, needs_count, safety_stock, reserved = row
    # Plain dicts validated once by pydantic-core (Rust) with the whole answer: building 20
    # peer models one by one in Python was most of the lookup's cost (profiled).
    peers = []
    for peer, peer_on_hand, available, as_of in conn.execute(
        "SELECT store_id, on_hand, available, as_of FROM peer_stock "
        "WHERE sku = ? AND store_id != ? ORDER BY available DESC, store_id",
        (sku, store_id),
    ):
        peers.append(
            {
                "store_id": peer,
                "on_hand": peer_on_hand,
                "available": available,
                "as_of": as_of,
                "age_s": max(0.0, (now - parse(as_of)).total_seconds()),
            }
        )
    return StockLookup.model_validate(
        {
            "sku": sku,
            "gtin": product.gtin if product else None,
            "name": product.name if product else None,
            "price_cents": product.price_cents if product else None,
            "here": {
                "store_id": store_id,
                "on_hand": on_hand,
                "reserved": reserved,
                "safety_stock": safety_stock,
                "available": max(0, on_hand - reserved - safety_stock),
                "needs_count": bool(needs_count),
            },
            "other_stores": peers,
        }
    )
