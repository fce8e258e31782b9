"""Which other stores each store follows: its ``nearby_stores`` nearest, by the HQ profiles.

A kiosk lists nearby stores, and the whole fleet only as one "online" total. Sending every
store every other store's figures would cost N x N x skus at each store's birth (measured: 150
ms per birth at 20 stores of 500 skus, on the hub's one ingest thread), so each store gets
the figures of its nearest stores only, plus per-sku totals of all the others.

Nearest is by great-circle distance between the stores' profile locations. Stores without a
location come after every located one, by store id. A store that has no location itself
follows the first stores by store id: HQ should set every store's place.

The sets are kept in ``store_peer_set`` so a change shows as a difference. ``refresh`` runs
when the fleet's places or members change (a profile is set, a store is born): every online
store whose set changed gets ``StockPeers`` (it drops the stores it no longer follows) and
the current figures of the stores it now follows. Offline stores get theirs with the full
view on their next birth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from cloud_hub import fleet
from cloud_hub.db import Store, table, upsert
from cloud_hub.orders.routing import haversine_km
from cloud_hub.orders.tables import StoreProfile

_SP = table(StoreProfile)
_S = table(Store)


class StorePeerSet(SQLModel, table=True):
    """The stores a store was last told to follow (comma-separated, nearest first)."""

    __tablename__ = "store_peer_set"

    store_id: str = Field(primary_key=True, max_length=32)
    peers: str = Field(default="")
    updated_at: datetime


_PS = table(StorePeerSet)
NEARBY_TABLES: tuple[type[SQLModel], ...] = (StorePeerSet,)

Place = tuple[float, float] | None


def nearest(conn: Connection, k: int) -> dict[str, tuple[str, ...]]:
    """Every known store's ``k`` nearest other stores, nearest first."""
    places: dict[str, Place] = {store_id: None for store_id in fleet.all_store_ids(conn)}
    for store_id, lat, lon in conn.execute(select(_SP.c.store_id, _SP.c.lat, _SP.c.lon)):
        if store_id in places and lat is not None and lon is not None:
            places[store_id] = (float(lat), float(lon))
    return {store_id: _rank(store_id, here, places, k) for store_id, here in places.items()}


def _rank(store_id: str, here: Place, places: dict[str, Place], k: int) -> tuple[str, ...]:
    def key(other: str) -> tuple[int, float, str]:
        there = places[other]
        if here is None or there is None:
            return (1, 0.0, other)
        return (0, haversine_km(here, there), other)

    return tuple(sorted((s for s in places if s != store_id), key=key)[:k])


def stored(conn: Connection, *, lock: bool = False) -> dict[str, tuple[str, ...]]:
    """The saved sets; ``lock`` holds their rows (PostgreSQL) until the caller commits."""
    query = select(_PS.c.store_id, _PS.c.peers)
    return {
        store_id: tuple(p for p in peers.split(",") if p)
        for store_id, peers in conn.execute(query.with_for_update() if lock else query)
    }


def stale(follows: dict[str, tuple[str, ...]], stores: list[str], k: int) -> bool:
    """Whether the saved sets are not for this fleet or this ``nearby_stores`` any more."""
    if follows.keys() != set(stores):
        return True
    size = min(k, len(stores) - 1)
    return any(len(peers) != size for peers in follows.values())


def save(conn: Connection, store_id: str, peers: tuple[str, ...], now: datetime) -> None:
    values = {"peers": ",".join(peers), "updated_at": now}
    conn.execute(
        upsert(conn, _PS)
        .values(store_id=store_id, **values)
        .on_conflict_do_update(index_elements=["store_id"], set_=values)
    )


def changes(conn: Connection, k: int, now: datetime) -> dict[str, tuple[tuple[str, ...], set[str]]]:
    """Save every store's current set; for each store whose set changed, (the new set, the
    stores it did not follow before)."""
    before = stored(conn, lock=True)
    changed: dict[str, tuple[tuple[str, ...], set[str]]] = {}
    for store_id, peers in nearest(conn, k).items():
        if before.get(store_id) != peers:
            save(conn, store_id, peers, now)
            changed[store_id] = (peers, set(peers) - set(before.get(store_id, ())))
    return changed
