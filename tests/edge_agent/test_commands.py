"""The hub's command stream at the store: once, in order, never blocked by a bad command."""

from __future__ import annotations

import json
from typing import Any

from edge_agent import commands, outbox
from edge_agent.db import StoreDB
from edge_agent.policy import FulfilmentPolicy
from edge_agent.stock import lookup
from storelink_contract.envelope import decode_batch, encode_batch

from .conftest import NOW

CATALOG = {
    "type": "catalog_upsert",
    "at": "2026-11-23T10:00:00Z",
    "products": [{"sku": "MUG-1", "gtin": "4006381333931", "name": "Mug", "price_cents": 450}],
}


def _view(store: str, on_hand: int, as_of: str) -> dict[str, Any]:
    return {
        "type": "stock_view",
        "at": as_of,
        "entries": [
            {
                "store_id": store,
                "sku": "MUG-1",
                "on_hand": on_hand,
                "available": on_hand,
                "as_of": as_of,
            }
        ],
    }


def _apply(db: StoreDB, first_seq: int, *items: dict[str, Any]) -> commands.CommandOutcome:
    batch = decode_batch(encode_batch("hub", "commands", first_seq, [json.dumps(i) for i in items]))
    with db.write() as conn:
        return commands.apply_batch(conn, batch, NOW, FulfilmentPolicy(store_id="store-a"))


def test_a_batch_applied_three_times_changes_the_store_once(db: StoreDB) -> None:
    for _ in range(3):
        outcome = _apply(
            db,
            1,
            CATALOG,
            {
                "type": "safety_stock_set",
                "at": "2026-11-23T10:00:00Z",
                "levels": [{"sku": "MUG-1", "quantity": 2}],
            },
        )
        assert outcome.ack_upto == 2
    conn = db.read()
    assert conn.execute("SELECT count(*) FROM product").fetchone() == (1,)
    assert conn.execute("SELECT quantity FROM safety_stock").fetchone() == (2,)
    assert outbox.position(conn, outbox.COMMANDS_APPLIED) == 2


def test_a_gap_applies_nothing_and_asks_for_a_resend(db: StoreDB) -> None:
    _apply(db, 1, CATALOG)
    outcome = _apply(db, 3, _view("store-b", 4, "2026-11-23T10:00:00Z"))
    assert (outcome.ack_upto, outcome.resend_from) == (1, 2)
    assert db.read().execute("SELECT count(*) FROM peer_stock").fetchone() == (0,)


def test_a_bad_command_is_quarantined_and_the_next_one_applies(db: StoreDB) -> None:
    bad = {"type": "catalog_upsert", "at": "2026-11-23T10:00:00Z", "products": [{"sku": "X"}]}
    unknown = {"type": "launch_rocket", "at": "2026-11-23T10:00:00Z"}
    outcome = _apply(db, 1, bad, unknown, CATALOG)
    assert (outcome.ack_upto, outcome.applied, outcome.quarantined) == (3, 1, 2)
    reasons = [
        r for (r,) in db.read().execute("SELECT reason FROM command_quarantine ORDER BY seq")
    ]
    assert "products.0.name" in reasons[0]
    assert "launch_rocket" in reasons[1]
    assert lookup(db.read(), "store-a", "4006381333931", NOW).name == "Mug"


def test_other_stores_views_keep_the_newest_figure(db: StoreDB) -> None:
    _apply(db, 1, CATALOG, _view("store-b", 4, "2026-11-23T10:05:00Z"))
    _apply(db, 3, _view("store-b", 9, "2026-11-23T10:01:00Z"))  # older, arrives late
    (peer,) = lookup(db.read(), "store-a", "MUG-1", NOW).other_stores
    assert (peer.store_id, peer.on_hand) == ("store-b", 4)
    assert peer.age_s == (NOW - peer.as_of).total_seconds()


def test_online_is_here_plus_the_fleet_total_and_only_followed_stores_are_listed(
    db: StoreDB,
) -> None:
    _apply(db, 1, CATALOG, _view("store-b", 4, "2026-11-23T10:05:00Z"))
    _apply(db, 3, _view("store-c", 2, "2026-11-23T10:05:00Z"))
    before_totals = lookup(db.read(), "store-a", "MUG-1", NOW)
    assert before_totals.online_available == 6  # no total yet: the stores it knows
    total = {
        "type": "stock_view",
        "at": "2026-11-23T10:06:00Z",
        "network": [{"sku": "MUG-1", "available": 15}],
    }
    follows = {"type": "stock_peers", "at": "2026-11-23T10:06:00Z", "stores": ["store-c"]}
    _apply(db, 4, total, follows)
    found = lookup(db.read(), "store-a", "MUG-1", NOW)
    assert [p.store_id for p in found.other_stores] == ["store-c"]  # store-b is too far now
    assert found.online_available == 15  # nothing here, 15 in the rest of the fleet
    stale = {**total, "at": "2026-11-23T10:00:00Z", "network": [{"sku": "MUG-1", "available": 1}]}
    _apply(db, 6, stale)  # an older total arriving late changes nothing
    assert lookup(db.read(), "store-a", "MUG-1", NOW).online_available == 15
    _apply(db, 7, {**follows, "stores": []})  # the only store in the fleet now
    assert lookup(db.read(), "store-a", "MUG-1", NOW).other_stores == []


def test_a_view_with_nothing_in_it_is_quarantined(db: StoreDB) -> None:
    outcome = _apply(db, 1, {"type": "stock_view", "at": "2026-11-23T10:00:00Z"})
    assert (outcome.applied, outcome.quarantined) == (0, 1)
    (reason,) = db.read().execute("SELECT reason FROM command_quarantine").fetchone()
    assert "entries or network" in reason


def test_a_resync_request_puts_a_snapshot_in_the_event_stream(db: StoreDB) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO stock (sku, on_hand, updated_at) VALUES ('MUG-1', 7, 'x')")
    _apply(db, 1, {"type": "resync_request", "at": "2026-11-23T10:00:00Z", "reason": "digest"})
    (payload,) = db.read().execute("SELECT payload FROM outbox").fetchone()
    event = json.loads(payload)
    assert event["type"] == "stock_snapshot"
    assert event["on_hand"] == {"MUG-1": 7}


def test_a_store_that_never_applied_a_command_joins_the_stream_where_the_hub_is(
    db: StoreDB,
) -> None:
    """A wiped store: the hub deleted commands 1..5 when they were acked the first time."""
    outcome = _apply(db, 6, CATALOG)
    assert (outcome.ack_upto, outcome.resend_from, outcome.applied) == (6, None, 1)
    gap = _apply(db, 9, CATALOG)  # from now on a gap is a gap
    assert gap.resend_from == 7
