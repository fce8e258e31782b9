"""The store directory: where each store is, sent to every store for its kiosks.

A kiosk lists other stores nearest first, and must do so offline too, so every store keeps a
copy (``StoreDirectory`` commands): sent to all stores when a profile changes, and to a store
on its birth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub import commands, fleet
from cloud_hub.db import table
from cloud_hub.orders.tables import StoreProfile
from storelink_contract.commands import StoreDirectory, StoreListing

_SP = table(StoreProfile)


def listings(conn: Connection) -> list[StoreListing]:
    return [
        StoreListing(store_id=store_id, name=name, lat=lat, lon=lon)
        for store_id, name, lat, lon in conn.execute(
            select(_SP.c.store_id, _SP.c.name, _SP.c.lat, _SP.c.lon).order_by(_SP.c.store_id)
        )
    ]


def send(conn: Connection, now: datetime, store_ids: list[str] | None = None) -> int:
    """Queue the directory for ``store_ids`` (every store when None); how many got it."""
    stores = listings(conn)
    if not stores:
        return 0
    targets = fleet.all_store_ids(conn) if store_ids is None else store_ids
    commands.enqueue(conn, targets, StoreDirectory(at=now, stores=tuple(stores)), now)
    return len(targets)
