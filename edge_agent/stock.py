"""Stock lookup for kiosks, tills and staff: this store's figure and other stores' figures.

Available-to-promise here is on-hand minus reserved (online orders, kiosk carts) minus safety
stock, never below zero. Other stores are the nearby ones the hub sends (``stock_peers``),
nearest first (the hub's store directory gives their places); ``online_available`` is what the
whole fleet could still ship: this store's figure plus the hub's total of all the others.
Other stores' figures come from the hub's last ``stock_view``, each with its ``as_of`` and age,
so a kiosk cut off from the hub can still say "3 at Store B, as of 12 minutes ago" instead of
nothing.
"""

from __future__ import annotations

import math
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
    name: str = ""
    on_hand: int
    available: int
    as_of: datetime
    age_s: float = Field(description="How old this figure is, in seconds")
    distance_km: float | None = Field(
        default=None, description="From this store, when both places are known"
    )


class StockLookup(BaseModel):
    sku: str
    gtin: str | None
    name: str | None
    price_cents: int | None
    here: HereStock
    other_stores: list[PeerStockFigure] = Field(description="Nearest first")
    online_available: int = Field(
        default=0, description="Units the fleet can still promise (this store and the others)"
    )


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
    here_place = conn.execute(
        "SELECT lat, lon FROM peer_store WHERE store_id = ?", (store_id,)
    ).fetchone()
    peers = []
    for peer, name, peer_on_hand, available, as_of, lat, lon in conn.execute(
        "SELECT p.store_id, coalesce(d.name, ''), p.on_hand, p.available, p.as_of, d.lat, d.lon "
        "FROM peer_stock p LEFT JOIN peer_store d ON d.store_id = p.store_id "
        "WHERE p.sku = ? AND p.store_id != ? ORDER BY p.available DESC, p.store_id",
        (sku, store_id),
    ):
        distance = None
        if here_place and None not in here_place and lat is not None and lon is not None:
            distance = round(_km(here_place, (lat, lon)), 1)
        peers.append(
            {
                "store_id": peer,
                "name": name,
                "on_hand": peer_on_hand,
                "available": available,
                "as_of": as_of,
                "age_s": max(0.0, (now - parse(as_of)).total_seconds()),
                "distance_km": distance,
            }
        )
    peers.sort(key=lambda p: (p["distance_km"] is None, p["distance_km"] or 0.0))
    here_available = max(0, on_hand - reserved - safety_stock)
    # Online: this store as it is now, and every other store as the hub last summed them
    # (peer_stock has the nearby ones only); before any total arrived, the nearby ones.
    network = conn.execute("SELECT available FROM network_stock WHERE sku = ?", (sku,)).fetchone()
    others = int(network[0]) if network else sum(int(p["available"]) for p in peers)
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
                "available": here_available,
                "needs_count": bool(needs_count),
            },
            "other_stores": peers,
            "online_available": here_available + others,
        }
    )


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def search(
    conn: sqlite3.Connection, store_id: str, text: str, now: datetime, limit: int = 10
) -> list[StockLookup]:
    """Products whose sku, GTIN or name matches ``text`` (a scan, or typing at the kiosk)."""
    exact = lookup(conn, store_id, text, now)
    if exact is not None and exact.name is not None:
        return [exact]
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    skus = [
        sku
        for (sku,) in conn.execute(
            "SELECT sku FROM product WHERE name LIKE ? ESCAPE '\\' OR sku LIKE ? ESCAPE '\\' "
            "ORDER BY name LIMIT ?",
            (pattern, pattern, limit),
        )
    ]
    return [found for sku in skus if (found := lookup(conn, store_id, sku, now)) is not None]
