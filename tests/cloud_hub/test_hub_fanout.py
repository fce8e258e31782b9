"""Fan-out of stock changes to other stores as StockView commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine

from cloud_hub import commands, fleet, stock
from cloud_hub.fanout import FanOut, enqueue_full_view
from cloud_hub.ingest import apply_event_batch
from storelink_contract.commands import HUB_COMMAND, SafetyStockLevel, StockView
from storelink_contract.session import StoreState
from tests.cloud_hub.hub_helpers import batch, received, sale


def _birth(engine: Engine, store_id: str, now: datetime) -> None:
    with engine.begin() as conn:
        fleet.apply_state(conn, StoreState(kind="birth", store_id=store_id, bdseq=1), now)


def _views(engine: Engine, store_id: str) -> list[StockView]:
    with engine.connect() as conn:
        out = []
        for p in commands.pending(conn, store_id, 0, 1000):
            cmd = HUB_COMMAND.validate_python(json.loads(p.payload))
            assert isinstance(cmd, StockView)
            out.append(cmd)
        return out


def test_changes_are_coalesced_into_one_view_per_other_store(engine: Engine, now: datetime) -> None:
    for s in ("s1", "s2", "s3"):
        _birth(engine, s, now)
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

    assert fan.flush(engine, now) == 2
    assert fan.pending() == 0
    assert _views(engine, "s1") == []
    for other in ("s2", "s3"):
        views = _views(engine, other)
        assert len(views) == 1
        (entry,) = views[0].entries
        assert (entry.store_id, entry.sku, entry.on_hand, entry.available) == ("s1", "A", 14, 10)
        assert entry.as_of == at
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
    assert _views(engine, "s2") == []
    with engine.begin() as conn:
        assert enqueue_full_view(conn, "s2", now) == 1
    (view,) = _views(engine, "s2")
    assert [(e.store_id, e.sku, e.on_hand) for e in view.entries] == [
        ("s1", "A", 2),
        ("s1", "B", 5),
    ]
