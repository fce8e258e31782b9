"""Fan-out of stock changes to the other stores, so a kiosk can say where else an item is.

Ingest (and safety-stock changes from the API) report which (store, sku) pairs changed; every
``fanout_interval_s`` the link drains them and queues ``StockView`` commands for each online
store: the latest figures of the changed stores it follows (its nearest, see
``cloud_hub.nearby``) and, for every changed sku, what all other stores together can promise
(the kiosk's "online" figure). Coalescing is by construction: pairs are a set, so a sku sold a
hundred times in an interval is sent once, with its newest figure. Offline stores get nothing
incremental (their outbox would only fill with superseded figures); on their birth they get
``StockPeers`` (the stores they follow) and the full current view of those, with the totals.

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

from pydantic import BaseModel
from sqlalchemy import Engine, Select, and_, case, func, select, union
from sqlalchemy.engine import Connection, Row

from cloud_hub import commands, fleet, nearby
from cloud_hub.db import SafetyStock, Store, StoreStock, table
from cloud_hub.orders.tables import Allocation, OnlineOrder, OrderLine, committed_units
from storelink_contract.commands import NetworkStock, PeerStock, StockPeers, StockView

_ST = table(StoreStock)
_SS = table(SafetyStock)
_S = table(Store)
_O = table(OnlineOrder)
_L = table(OrderLine)
_A = table(Allocation)

#: Orders changed this long before the last flush are looked at again: a transaction that
#: began before it may have committed after it (views are state: sending twice is harmless).
ORDER_OVERLAP = timedelta(seconds=10)
#: Entries per StockView command, so one message stays a reasonable size.
VIEW_CHUNK = 500
#: Other stores whose figures each store follows, unless the hub is configured otherwise.
NEARBY_STORES = 10
_IN_CHUNK = 500

Pair = tuple[str, str]


class FanOut:
    """Thread-safe set of changed (store, sku) pairs waiting for the next fan-out."""

    def __init__(self, nearby_stores: int = NEARBY_STORES) -> None:
        self.nearby_stores = nearby_stores
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
                return enqueue_changes(
                    conn, pairs, fleet.online_store_ids(conn), now, self.nearby_stores
                )
        except BaseException:
            self.put_back(pairs)
            self._orders_seen_upto = since
            raise


def _order_pairs(conn: Connection, since: datetime) -> set[Pair]:
    """(store, sku) of orders whose status changed since ``since`` (their holds moved), at
    every store they were allocated to: a re-routed order's hold left the old store too."""
    current = (
        select(_O.c.store_id, _L.c.sku)
        .join(_L, _L.c.order_id == _O.c.order_id)
        .where(_O.c.updated_at >= since, _O.c.store_id.is_not(None))
    )
    earlier = (
        select(_A.c.store_id, _L.c.sku)
        .join(_O, _O.c.order_id == _A.c.order_id)
        .join(_L, _L.c.order_id == _A.c.order_id)
        .where(_O.c.updated_at >= since)
    )
    rows = conn.execute(union(current, earlier))
    return {(str(store_id), str(sku)) for store_id, sku in rows}


def _kept_back() -> tuple[Any, Any]:
    """Store stock joined to what is kept back from promising it (safety stock, and units
    open online orders hold): the join, and the units kept back per row."""
    held = committed_units()
    joined = _ST.outerjoin(
        _SS, and_(_SS.c.store_id == _ST.c.store_id, _SS.c.sku == _ST.c.sku)
    ).outerjoin(held, and_(held.c.store_id == _ST.c.store_id, held.c.sku == _ST.c.sku))
    return joined, func.coalesce(_SS.c.quantity, 0) + func.coalesce(held.c.committed, 0)


def _figures_query() -> Select[Any]:
    joined, kept = _kept_back()
    return select(
        _ST.c.store_id,
        _ST.c.sku,
        _ST.c.on_hand,
        kept,
        func.coalesce(_S.c.last_event_at, _ST.c.updated_at),
    ).select_from(joined.join(_S, _S.c.store_id == _ST.c.store_id))


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


def _available(conn: Connection, skus: Iterable[str]) -> dict[Pair, int]:
    """What each store can still promise of ``skus``, for the network totals."""
    joined, kept = _kept_back()
    figures = select(_ST.c.store_id, _ST.c.sku, _ST.c.on_hand - kept).select_from(joined)
    wanted = sorted(set(skus))
    out: dict[Pair, int] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        for store_id, sku, available in conn.execute(
            figures.where(_ST.c.sku.in_(wanted[i : i + _IN_CHUNK]))
        ):
            out[(store_id, sku)] = max(0, int(available))
    return out


def _network(
    target: str, skus: Iterable[str], available: dict[Pair, int], totals: dict[str, int]
) -> list[NetworkStock]:
    """Per sku, what every store but ``target`` can promise together."""
    return [
        NetworkStock(sku=sku, available=totals.get(sku, 0) - available.get((target, sku), 0))
        for sku in skus
    ]


def _totals(available: dict[Pair, int]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for (_store_id, sku), units in available.items():
        totals[sku] += units
    return totals


def _views(entries: list[PeerStock], network: list[NetworkStock], now: datetime) -> list[StockView]:
    """As few views as hold everything, at most ``VIEW_CHUNK`` store figures and
    ``VIEW_CHUNK`` totals each."""
    return [
        StockView(
            at=now,
            entries=tuple(entries[i : i + VIEW_CHUNK]),
            network=tuple(network[i : i + VIEW_CHUNK]),
        )
        for i in range(0, max(len(entries), len(network)), VIEW_CHUNK)
    ]


def enqueue_changes(
    conn: Connection,
    pairs: Iterable[Pair],
    targets: Iterable[str],
    now: datetime,
    nearby: int = NEARBY_STORES,
) -> int:
    """Queue the changed figures for every target store that follows the store that changed,
    and the changed skus' network totals for every target."""
    pairs = set(pairs)
    follows = _peer_sets(conn, nearby, now)
    entries = sorted(figures_for(conn, pairs), key=lambda p: (p.store_id, p.sku))
    changed_by: dict[str, set[str]] = defaultdict(set)
    for store_id, sku in pairs:
        changed_by[sku].add(store_id)
    available = _available(conn, changed_by)
    totals = _totals(available)
    queued = 0
    for target in targets:
        near = set(follows.get(target, ()))
        mine = [e for e in entries if e.store_id in near]
        # Totals move for a target only where another store changed.
        skus = sorted(sku for sku, by in changed_by.items() if by - {target})
        views = _views(mine, _network(target, skus, available, totals), now)
        queued += len(commands.enqueue_for_store(conn, target, views, now))
    return queued


def _peer_sets(conn: Connection, k: int, now: datetime) -> dict[str, tuple[str, ...]]:
    # Locked: a profile change refreshing the sets meanwhile waits for this flush, so no view
    # of a store just dropped is queued after the StockPeers that dropped it.
    follows = nearby.stored(conn, lock=True)
    if nearby.stale(follows, fleet.all_store_ids(conn), k):
        refresh_peers(conn, now, k)
        follows = nearby.stored(conn)
    return follows


def _full_view(
    conn: Connection, store_id: str, peers: tuple[str, ...], now: datetime
) -> list[StockView]:
    """Every current figure of ``peers`` and every network total, for ``store_id``."""
    entries: list[PeerStock] = []
    if peers:
        rows = conn.execute(
            _figures_query().where(_ST.c.store_id.in_(peers)).order_by(_ST.c.store_id, _ST.c.sku)
        )
        entries = [_peer(r) for r in rows]
    joined, kept = _kept_back()
    left = _ST.c.on_hand - kept
    promise = case((left < 0, 0), else_=left)  # GREATEST on PostgreSQL is MAX on SQLite
    network = [
        NetworkStock(sku=sku, available=int(units))
        for sku, units in conn.execute(
            select(_ST.c.sku, func.sum(promise))
            .select_from(joined)
            .where(_ST.c.store_id != store_id)
            .group_by(_ST.c.sku)
            .order_by(_ST.c.sku)
        )
    ]
    return _views(entries, network, now)


def enqueue_full_view(
    conn: Connection, store_id: str, now: datetime, nearby_stores: int = NEARBY_STORES
) -> int:
    """On ``store_id``'s birth: which stores it follows, with their figures and the network
    totals. Other online stores whose nearest stores changed with it get their new set."""
    follows = nearby.stored(conn, lock=True)
    changed: dict[str, tuple[tuple[str, ...], set[str]]] = {}
    if nearby.stale(follows, fleet.all_store_ids(conn), nearby_stores):
        # A store new to the fleet, or a new setting (places change through refresh_peers).
        changed = nearby.changes(conn, nearby_stores, now)
        follows = nearby.stored(conn)
    peers = follows.get(store_id, ())
    queued = _tell_peers(conn, store_id, peers, _full_view(conn, store_id, peers, now), now)
    online = set(fleet.online_store_ids(conn))
    for other, (others_peers, added) in changed.items():
        if other != store_id and other in online:
            queued += _tell_peers(conn, other, others_peers, _figures_of(conn, added, now), now)
    return queued


def refresh_peers(conn: Connection, now: datetime, nearby_stores: int = NEARBY_STORES) -> int:
    """After the fleet's places changed: every online store whose nearest stores changed
    learns its new set and gets the figures of the stores it now follows."""
    online = set(fleet.online_store_ids(conn))
    queued = 0
    for store_id, (peers, added) in nearby.changes(conn, nearby_stores, now).items():
        if store_id in online:
            queued += _tell_peers(conn, store_id, peers, _figures_of(conn, added, now), now)
    return queued


def _figures_of(conn: Connection, stores: set[str], now: datetime) -> list[StockView]:
    if not stores:
        return []
    rows = conn.execute(
        _figures_query()
        .where(_ST.c.store_id.in_(sorted(stores)))
        .order_by(_ST.c.store_id, _ST.c.sku)
    )
    return _views([_peer(r) for r in rows], [], now)


def _tell_peers(
    conn: Connection,
    store_id: str,
    peers: tuple[str, ...],
    views: list[StockView],
    now: datetime,
) -> int:
    batch: list[BaseModel] = [StockPeers(at=now, stores=peers), *views]
    return len(commands.enqueue_for_store(conn, store_id, batch, now))
