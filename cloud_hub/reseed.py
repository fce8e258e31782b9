"""Everything a store must hold that only commands bring: catalog and its safety stock.

Sent when a store's birth says it has never applied a command: a new store (the catalog was
pushed before it existed), or a store whose database was wiped (the commands it had applied
are gone from both sides: the hub deletes acknowledged commands). The stock view of other
stores follows from the fan-out's full view on every birth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub import catalog, commands
from cloud_hub.db import SafetyStock, table
from cloud_hub.returns import policy
from storelink_contract.commands import SafetyStockLevel, SafetyStockSet

_SS = table(SafetyStock)


def reseed_store(conn: Connection, store_id: str, now: datetime) -> int:
    """Queue the whole catalog (in pages) and the store's safety stock; return commands queued."""
    queued = 0
    after: str | None = None
    while page := catalog.products(conn, limit=catalog.PRODUCTS_PER_COMMAND, after_sku=after):
        catalog.send_to_stores(conn, catalog.as_products(page), [store_id], now)
        queued += 1
        after = page[-1].sku
    levels = tuple(
        SafetyStockLevel(sku=sku, quantity=quantity)
        for sku, quantity in conn.execute(
            select(_SS.c.sku, _SS.c.quantity).where(_SS.c.store_id == store_id)
        )
    )
    if levels:
        commands.enqueue(conn, [store_id], SafetyStockSet(at=now, levels=levels), now)
        queued += 1
    if policy.send_to(conn, store_id, now):
        queued += 1
    return queued
