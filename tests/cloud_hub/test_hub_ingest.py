"""Ingest of a store's event stream, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from cloud_hub.db import Quarantine, Store, StoreEvent, table
from cloud_hub.ingest import IngestResult, apply_event_batch, current_view
from storelink_contract.envelope import Batch
from tests.cloud_hub.hub_helpers import batch, digest, receipts, received, sale, snapshot


def apply(engine: Engine, b: Batch, now: datetime, store_id: str = "s1") -> IngestResult:
    with engine.begin() as conn:
        return apply_event_batch(conn, store_id, b, now)


def view(engine: Engine, store_id: str = "s1") -> dict[str, int]:
    with engine.connect() as conn:
        return current_view(conn, store_id)


def count(engine: Engine, model: type, store_id: str = "s1") -> int:
    t = table(model)
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(t).where(t.c.store_id == store_id)
        ).scalar_one()


def store_row(engine: Engine, store_id: str = "s1"):  # type: ignore[no-untyped-def]
    t = table(Store)
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.store_id == store_id)).one()


def test_same_batch_three_times_changes_stock_once(engine: Engine, now: datetime) -> None:
    b = batch("s1", 1, [received("A", 5, now), sale("A", 2, now)])
    results = [apply(engine, b, now) for _ in range(3)]
    assert view(engine) == {"A": 3}
    assert [r.applied for r in results] == [2, 0, 0]
    assert [r.duplicates for r in results] == [0, 2, 2]
    assert [r.ack_upto for r in results] == [2, 2, 2]
    assert count(engine, StoreEvent) == 2


def test_overlapping_batch_applies_only_new_items(engine: Engine, now: datetime) -> None:
    events = receipts(5, now, "A")
    apply(engine, batch("s1", 1, events[:3]), now)
    result = apply(engine, batch("s1", 2, events[1:]), now)  # seqs 2..5, of which 2..3 resent
    assert (result.applied, result.duplicates, result.ack_upto) == (2, 2, 5)
    assert view(engine) == {"A": 5}
    assert store_row(engine).events_applied_upto == 5


def test_gap_asks_for_resend_and_applies_nothing(engine: Engine, now: datetime) -> None:
    apply(engine, batch("s1", 1, receipts(2, now)), now)
    result = apply(engine, batch("s1", 5, receipts(3, now)), now)
    assert result.resend_from == 3
    assert result.ack_upto is None
    assert result.applied == 0
    assert view(engine) == {"SKU-1": 2}
    assert store_row(engine).events_applied_upto == 2


def test_malformed_item_is_quarantined_and_stream_moves_on(engine: Engine, now: datetime) -> None:
    bad = {"type": "stock_received", "at": "yesterday", "receipt_id": "x"}
    b = batch("s1", 1, [received("A", 1, now), bad, received("A", 10, now)])
    result = apply(engine, b, now)
    assert result.ack_upto == 3
    assert result.applied == 2
    assert [q.seq for q in result.quarantined] == [2]
    assert "at" in result.quarantined[0].reason
    later = apply(engine, batch("s1", 4, [received("B", 4, now)]), now)
    assert later.applied == 1
    assert view(engine) == {"A": 11, "B": 4}
    q = table(Quarantine)
    with engine.connect() as conn:
        rows = conn.execute(select(q.c.store_id, q.c.seq, q.c.reason, q.c.payload)).all()
    assert len(rows) == 1
    assert rows[0].store_id == "s1"
    assert rows[0].seq == 2
    assert "yesterday" in rows[0].payload


def test_unknown_event_type_is_quarantined(engine: Engine, now: datetime) -> None:
    future = {"type": "drone_delivered", "at": now.isoformat(), "deltas": []}
    result = apply(engine, batch("s1", 1, [future, received("A", 2, now)]), now)
    assert result.ack_upto == 2
    assert "unknown event type 'drone_delivered'" in result.quarantined[0].reason
    assert view(engine) == {"A": 2}


def test_snapshot_replaces_the_view(engine: Engine, now: datetime) -> None:
    apply(engine, batch("s1", 1, [received("A", 5, now), received("B", 3, now)]), now)
    result = apply(
        engine, batch("s1", 3, [snapshot({"A": 2, "C": 7}, now), sale("C", 1, now)]), now
    )
    assert view(engine) == {"A": 2, "B": 0, "C": 6}
    assert result.changed_skus == {"A", "B", "C"}


def test_digest_match_and_mismatch(engine: Engine, now: datetime) -> None:
    apply(engine, batch("s1", 1, [received("A", 5, now)]), now)
    ok = apply(engine, batch("s1", 2, [digest({"A": 5, "Z": 0}, now)]), now)
    assert ok.resync_reason is None
    bad = apply(engine, batch("s1", 3, [digest({"A": 4}, now)]), now)
    assert bad.resync_reason is not None
    assert "digest mismatch at event 3" in bad.resync_reason
    assert bad.ack_upto == 3


def test_database_refusal_falls_back_to_one_by_one(engine: Engine, now: datetime) -> None:
    # A row the inbox position does not know about: the bulk insert hits the primary key.
    with engine.begin() as conn:
        apply_event_batch(conn, "s1", batch("s1", 1, [received("A", 1, now)]), now)
        conn.execute(
            insert(table(StoreEvent)).values(
                store_id="s1", seq=3, type="stock_received", at=now, payload="{}"
            )
        )
    result = apply(
        engine,
        batch("s1", 2, [received("A", 1, now), received("A", 10, now), sale("A", 1, now)]),
        now,
    )
    assert result.ack_upto == 4
    assert result.applied == 2
    assert [q.seq for q in result.quarantined] == [3]
    assert "database refused" in result.quarantined[0].reason
    assert view(engine) == {"A": 1}


def test_stream_positions_and_sync_lag(engine: Engine, now: datetime) -> None:
    at = now - timedelta(seconds=30)
    apply(engine, batch("s1", 1, [received("A", 1, at)]), now)
    row = store_row(engine)
    assert row.events_applied_upto == 1
    assert row.sync_lag_s == 30.0
    assert row.last_event_at == at
    assert row.last_seen == now


def test_streams_of_two_stores_are_independent(engine: Engine, now: datetime) -> None:
    apply(engine, batch("s1", 1, receipts(2, now)), now, "s1")
    r2 = apply(engine, batch("s2", 1, receipts(1, now)), now, "s2")
    assert r2.applied == 1
    assert view(engine, "s1") == {"SKU-1": 2}
    assert view(engine, "s2") == {"SKU-1": 1}


def test_large_batches_sum_per_sku(engine: Engine, now: datetime) -> None:
    items = [received(f"S{i % 7}", 1, now, f"r{i}") for i in range(500)]
    for first in (1, 501):
        result = apply(engine, batch("s1", first, items), now)
        assert result.applied == 500
    totals = view(engine)
    assert sum(totals.values()) == 1000
    assert totals["S0"] == 2 * len(range(0, 500, 7))


def test_other_events_under_applied_sequences_are_a_conflict_not_duplicates(
    engine: Engine, now: datetime
) -> None:
    """A store whose database was wiped numbers new sales from 1 again: acking them as
    duplicates would make it delete sales the hub never saw."""
    apply(engine, batch("s1", 1, receipts(3, now, "A")), now)
    wiped = [received("B", 7, now, "after-wipe"), received("B", 1, now, "after-wipe-2")]
    result = apply(engine, batch("s1", 1, wiped), now)
    assert result.conflict is not None
    assert "rebase --after 3" in result.conflict
    assert (result.applied, result.ack_upto, result.resend_from) == (0, None, None)
    assert view(engine) == {"A": 3}
    # After the store rebases its unsent events to follow 3, they apply normally.
    result = apply(engine, batch("s1", 4, wiped), now)
    assert (result.applied, result.ack_upto, result.conflict) == (2, 5, None)
    assert view(engine) == {"A": 3, "B": 8}
