"""Fan-out of stock changes to the other stores, so a kiosk can say where else an item is.

Ingest (and safety-stock changes from the API) report which (store, sku) pairs changed; every
``fanout_interval_s`` the link drains them and queues one ``StockView`` command per other online
store with the latest figures. Coalescing is by construction: pairs are a set, so a sku sold a
hundred times in an interval is sent once, with its newest figure. Offline stores get nothing
incremental (their outbox would only fill with superseded figures); on their birth they get the
full current view of every other store instead.

``as_of`` is the store event time the hub's view of that store is current to (its last applied
event), falling back to when the row was written: a sku that has not moved for a week is still
known as of the store's last sync, and that is what a kiosk should show.

``available`` is what that store can still promise: on-hand minus safety stock minus the units
open online orders hold there. An order routed, collected or cancelled changes it without any
stock movement, so each flush also takes the (store, sku) pairs of orders changed since the
last one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, and_, func, select
from sqlalchemy.engine import Connection, Row

from cloud_hub import commands, fleet
from cloud_hub.db import SafetyStock, Store, StoreStock, table
from cloud_hub.orders.tables import OnlineOrder, OrderLine, committed_units
from storelink_contract.commands import PeerStock, StockView

_ST = table(StoreStock)
_SS = table(SafetyStock)
_S = table(Store)
_O = table(OnlineOrder)
_L = table(OrderLine)

#: Orders changed this long before the last flush are looked at again: a transaction that
#: began before it may have committed after it (views are state: sending twice is harmless).
ORDER_OVERLAP = timedelta(seconds=10)
#: Entries per StockView command, so one message stays a reasonable size.
VIEW_CHUNK = 500
_IN_CHUNK = 500

Pair = tuple[str, str]


class FanOut:
    """Thread-safe set of changed (store, sku) pairs waiting for the next fan-out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed: set[Pair] = set()
        self._orders_seen_upto: datetime | None = None

    def note(self, store_id: str, skus: Iterable[str]) -> None:
        with self._lock:
            self._changed.update((store_id, sku) for sku in skus)

    def put_back(self, pairs: Iterable[Pair]) -> None:
        """Return pairs taken by a flush whose transaction failed."""
        with self._lock:
            self._changed.update(pairs)

    def take(self) -> set[Pair]:
        with self._lock:
            pairs, self._changed = self._changed, set()
        return pairs

    def pending(self) -> int:
        with self._lock:
            return len(self._changed)

    def flush(self, engine: Engine, now: datetime) -> int:
        """Queue StockView commands for everything changed since the last flush.

        Runs in its own transaction; if that fails, the pairs are put back for the next try.
        """
        pairs = self.take()
        since = self._orders_seen_upto
        try:
            with engine.begin() as conn:
                if since is not None:
                    pairs |= _order_pairs(conn, since - ORDER_OVERLAP)
                self._orders_seen_upto = now
                if not pairs:
                    return 0
                return enqueue_changes(conn, pairs, fleet.online_store_ids(conn), now)
        except BaseException:
            self.put_back(pairs)
            self._orders_seen_upto = since
            raise


def _order_pairs(conn: Connection, since: datetime) -> set[Pair]:
    """(store, sku) of orders whose status changed since ``since`` (their holds moved)."""
    rows = conn.execute(
        select(_O.c.store_id, _L.c.sku)
        .join(_L, _L.c.order_id == _O.c.order_id)
        .where(_O.c.updated_at >= since, _O.c.store_id.is_not(None))
        .distinct()
    )
    return {(str(store_id), str(sku)) for store_id, sku in rows}


def _figures_query() -> Select[Any]:
    held = committed_units()
    return (
        select(
            _ST.c.store_id,
            _ST.c.sku,
            _ST.c.on_hand,
            func.coalesce(_SS.c.quantity, 0) + func.coalesce(held.c.committed, 0),
            func.coalesce(_S.c.last_event_at, _ST.c.updated_at),
        )
        .select_from(_ST)
        .join(_S, _S.c.store_id == _ST.c.store_id)
        .outerjoin(_SS, and_(_SS.c.store_id == _ST.c.store_id, _SS.c.sku == _ST.c.sku))
        .outerjoin(held, and_(held.c.store_id == _ST.c.store_id, held.c.sku == _ST.c.sku))
    )


def _peer(row: Row[Any]) -> PeerStock:
    store_id, sku, on_hand, kept_back, as_of = tuple(row)
    return PeerStock(
        store_id=store_id,
        sku=sku,
        on_hand=on_hand,
        available=max(0, on_hand - int(kept_back)),
        as_of=as_of,
    )


def figures_for(conn: Connection, pairs: Iterable[Pair]) -> list[PeerStock]:
    """Current figures for the given (store, sku) pairs (pairs with no row are skipped)."""
    by_store: dict[str, list[str]] = defaultdict(list)
    for store_id, sku in pairs:
        by_store[store_id].append(sku)
    out: list[PeerStock] = []
    for store_id, skus in by_store.items():
        for i in range(0, len(skus), _IN_CHUNK):
            part = skus[i : i + _IN_CHUNK]
            rows = conn.execute(
                _figures_query().where(_ST.c.store_id == store_id, _ST.c.sku.in_(part))
            )
            out.extend(_peer(r) for r in rows)
    return out


def _views(entries: list[PeerStock], now: datetime) -> list[StockView]:
    return [
        StockView(at=now, entries=tuple(entries[i : i + VIEW_CHUNK]))
        for i in range(0, len(entries), VIEW_CHUNK)
    ]


def enqueue_changes(
    conn: Connection, pairs: Iterable[Pair], targets: Iterable[str], now: datetime
) -> int:
    """Queue the changed figures for every target store except the one that changed."""
    entries = sorted(figures_for(conn, pairs), key=lambda p: (p.store_id, p.sku))
    queued = 0
    for target in targets:
        mine = [e for e in entries if e.store_id != target]
        if mine:
            queued += len(commands.enqueue_for_store(conn, target, _views(mine, now), now))
    return queued


def enqueue_full_view(conn: Connection, store_id: str, now: datetime) -> int:
    """Queue every other store's figures for ``store_id`` (on its birth)."""
    rows = conn.execute(
        _figures_query().where(_ST.c.store_id != store_id).order_by(_ST.c.store_id, _ST.c.sku)
    )
    entries = [_peer(r) for r in rows]
    if not entries:
        return 0
    return len(commands.enqueue_for_store(conn, store_id, _views(entries, now), now))
