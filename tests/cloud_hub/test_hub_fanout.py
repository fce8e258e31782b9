"""Fan-out of stock changes to other stores: nearby stores' figures, and the fleet's totals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, update

from cloud_hub import commands, fleet, stock
from cloud_hub.db import Store, table, upsert
from cloud_hub.fanout import FanOut, enqueue_full_view, refresh_peers
from cloud_hub.ingest import apply_event_batch
from cloud_hub.orders.tables import StoreProfile
from storelink_contract.commands import (
    HUB_COMMAND,
    HubCommand,
    SafetyStockLevel,
    StockPeers,
    StockView,
)
from storelink_contract.session import StoreState
from tests.cloud_hub.hub_helpers import batch, received, sale

_SP = table(StoreProfile)


def _birth(engine: Engine, store_id: str, now: datetime, nearby: int = 10) -> None:
    """As the hub's inbound does: the store is online, and gets what it follows."""
    with engine.begin() as conn:
        fleet.apply_state(conn, StoreState(kind="birth", store_id=store_id, bdseq=1), now)
        enqueue_full_view(conn, store_id, now, nearby)


def _commands(engine: Engine, store_id: str, after: int = 0) -> list[HubCommand]:
    with engine.connect() as conn:
        return [
            HUB_COMMAND.validate_python(json.loads(p.payload))
            for p in commands.pending(conn, store_id, after, 1000)
        ]


def _last_seq(engine: Engine, store_id: str) -> int:
    with engine.connect() as conn:
        pending = commands.pending(conn, store_id, 0, 1000)
        return pending[-1].seq if pending else 0


def _views(engine: Engine, store_id: str, after: int = 0) -> list[StockView]:
    return [c for c in _commands(engine, store_id, after) if isinstance(c, StockView)]


def _followed(engine: Engine, store_id: str) -> tuple[str, ...] | None:
    told = [c for c in _commands(engine, store_id) if isinstance(c, StockPeers)]
    return told[-1].stores if told else None


def _totals(views: list[StockView]) -> dict[str, int]:
    return {n.sku: n.available for v in views for n in v.network}


def _place(engine: Engine, store_id: str, lon: float, now: datetime) -> None:
    with engine.begin() as conn:
        fleet.ensure_store(conn, store_id, now)
        values = {"lat": 52.5, "lon": lon, "updated_at": now}
        conn.execute(
            upsert(conn, _SP)
            .values(store_id=store_id, **values)
            .on_conflict_do_update(index_elements=["store_id"], set_=values)
        )


def _four_on_a_parallel(engine: Engine, now: datetime, nearby: int) -> None:
    """s2 is 6.8 km east of s1, s3 13.6 km, s4 34 km; all born following ``nearby``."""
    for store_id, lon in (("s1", 13.0), ("s2", 13.1), ("s3", 13.2), ("s4", 13.5)):
        _place(engine, store_id, lon, now)
        _birth(engine, store_id, now, nearby=nearby)


def test_changes_are_coalesced_into_one_view_per_other_store(engine: Engine, now: datetime) -> None:
    for s in ("s1", "s2", "s3"):
        _birth(engine, s, now)
    before = {s: _last_seq(engine, s) for s in ("s1", "s2", "s3")}
    fan = FanOut()
    at = now - timedelta(seconds=5)
    seq = 1
    for qty in (10, 3, 2):  # three batches touching the same sku within one interval
        with engine.begin() as conn:
            result = apply_event_batch(conn, "s1", batch("s1", seq, [received("A", qty, at)]), now)
        fan.note("s1", result.changed_skus)
        seq += 1
    with engine.begin() as conn:
        apply_event_batch(conn, "s1", batch("s1", seq, [sale("A", 1, at)]), now)
        stock.set_safety_stock(conn, "s1", [SafetyStockLevel(sku="A", quantity=4)], now)
    fan.note("s1", ["A"])

    assert fan.flush(engine, now) == 2  # one view for each other store
    assert fan.pending() == 0
    assert _views(engine, "s1", before["s1"]) == []  # never its own figures
    for other in ("s2", "s3"):
        (view,) = _views(engine, other, before[other])
        (entry,) = view.entries
        assert (entry.store_id, entry.sku, entry.on_hand, entry.available) == ("s1", "A", 14, 10)
        assert entry.as_of == at
        assert _totals([view]) == {"A": 10}
    assert fan.flush(engine, now) == 0  # nothing new: nothing sent


def test_offline_stores_get_the_full_view_on_birth(engine: Engine, now: datetime) -> None:
    _birth(engine, "s1", now)
    fan = FanOut()
    with engine.begin() as conn:
        fleet.ensure_store(conn, "s2", now)  # known, but offline
        r = apply_event_batch(
            conn, "s1", batch("s1", 1, [received("A", 2, now), received("B", 5, now)]), now
        )
    fan.note("s1", r.changed_skus)
    fan.flush(engine, now)
    assert _commands(engine, "s2") == []
    assert _followed(engine, "s1") == ("s2",)  # s1 was told it follows the newcomer
    with engine.begin() as conn:
        assert enqueue_full_view(conn, "s2", now) == 2  # whom it follows, and their figures
    assert _followed(engine, "s2") == ("s1",)
    (view,) = _views(engine, "s2")
    assert [(e.store_id, e.sku, e.on_hand) for e in view.entries] == [
        ("s1", "A", 2),
        ("s1", "B", 5),
    ]
    assert _totals([view]) == {"A": 2, "B": 5}


def test_a_store_follows_its_nearest_stores_and_totals_the_whole_fleet(
    engine: Engine, now: datetime
) -> None:
    _four_on_a_parallel(engine, now, nearby=2)
    assert _followed(engine, "s1") == ("s2", "s3")
    assert _followed(engine, "s4") == ("s3", "s2")
    before = _last_seq(engine, "s1")
    fan = FanOut(nearby_stores=2)
    for n, store_id in enumerate(("s1", "s2", "s3", "s4"), start=1):
        with engine.begin() as conn:
            r = apply_event_batch(conn, store_id, batch(store_id, 1, [received("A", n, now)]), now)
        fan.note(store_id, r.changed_skus)
    fan.flush(engine, now)
    (view,) = _views(engine, "s1", before)
    assert sorted((e.store_id, e.on_hand) for e in view.entries) == [("s2", 2), ("s3", 3)]
    assert _totals([view]) == {"A": 2 + 3 + 4}  # s4 is too far to list, not to count


def test_a_store_that_moves_changes_who_follows_it(engine: Engine, now: datetime) -> None:
    _four_on_a_parallel(engine, now, nearby=2)
    with engine.begin() as conn:
        apply_event_batch(conn, "s4", batch("s4", 1, [received("A", 7, now)]), now)
    before = _last_seq(engine, "s1")
    _place(engine, "s4", 12.95, now)  # HQ corrects s4's place: right next to s1
    with engine.begin() as conn:
        refresh_peers(conn, now, 2)
    assert _followed(engine, "s1") == ("s4", "s2")  # s1 drops s3
    (view,) = _views(engine, "s1", before)  # and gets the figures of the store it now follows
    assert [(e.store_id, e.sku, e.on_hand) for e in view.entries] == [("s4", "A", 7)]
    with engine.begin() as conn:  # nothing moved since: nobody is told anything
        assert refresh_peers(conn, now, 2) == 0


def test_an_offline_store_learns_its_new_set_on_its_birth(engine: Engine, now: datetime) -> None:
    for store_id, lon in (("s1", 13.0), ("s2", 13.1), ("s3", 13.2)):
        _place(engine, store_id, lon, now)
        _birth(engine, store_id, now, nearby=1)
    with engine.begin() as conn:
        conn.execute(update(table(Store)).values(online=False))
    _place(engine, "s3", 12.99, now)
    with engine.begin() as conn:
        assert refresh_peers(conn, now, 1) == 0  # every store is offline: nothing queued
    _birth(engine, "s1", now, nearby=1)
    assert _followed(engine, "s1") == ("s3",)


def test_a_new_nearby_stores_setting_takes_effect_at_the_next_birth(
    engine: Engine, now: datetime
) -> None:
    _four_on_a_parallel(engine, now, nearby=3)
    assert _followed(engine, "s1") == ("s2", "s3", "s4")
    _birth(engine, "s1", now + timedelta(minutes=5), nearby=1)  # the hub restarted with 1
    assert _followed(engine, "s1") == ("s2",)
    before = _last_seq(engine, "s1")
    fan = FanOut(nearby_stores=1)
    with engine.begin() as conn:
        r = apply_event_batch(conn, "s4", batch("s4", 1, [received("A", 7, now)]), now)
    fan.note("s4", r.changed_skus)
    fan.flush(engine, now + timedelta(minutes=6))
    assert [e for v in _views(engine, "s1", before) for e in v.entries] == []  # s4: too far
