"""The domain core on a real store database: ledger, sales, receipts, outbox, idempotency."""

from __future__ import annotations

import json

import pytest

from edge_agent import catalog, outbox
from edge_agent.db import StoreDB
from edge_agent.errors import IdempotencyConflict, UnknownProduct
from edge_agent.movements import AdjustmentRequest, ReceiptRequest, adjust_stock, receive_stock
from edge_agent.sales import SaleRequest, record_sale
from edge_agent.stock import lookup
from storelink_contract.common import Product

from .conftest import NOW


def _stock(db: StoreDB) -> None:
    with db.write() as conn:
        catalog.upsert(
            conn,
            [Product(sku="MUG-1", gtin="4006381333931", name="Mug", price_cents=450)],
            NOW,
        )
        receive_stock(
            conn, ReceiptRequest(receipt_id="r1", lines=[{"sku": "MUG-1", "quantity": 5}]), NOW
        )


def _ledger_sum(db: StoreDB, sku: str) -> int:
    (total,) = db.read().execute("SELECT sum(delta) FROM ledger WHERE sku = ?", (sku,)).fetchone()
    return int(total)


def test_sale_by_gtin_takes_the_catalog_price_and_reports_the_event(db: StoreDB) -> None:
    _stock(db)
    with db.write() as conn:
        result = record_sale(
            conn,
            SaleRequest(sale_id="s1", lines=[{"gtin": "4006381333931", "quantity": 2}]),
            "till-1",
            NOW,
        )
    assert result.total_cents == 900
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 3
    assert _ledger_sum(db, "MUG-1") == 3
    (payload,) = (
        db.read()
        .execute("SELECT payload FROM outbox WHERE seq = ?", (result.event_seq,))
        .fetchone()
    )
    event = json.loads(payload)
    assert event["type"] == "sale_recorded"
    assert event["deltas"] == [{"sku": "MUG-1", "delta": -2, "reason": "sale"}]


def test_the_same_sale_twice_is_one_sale(db: StoreDB) -> None:
    _stock(db)
    request = SaleRequest(sale_id="s1", lines=[{"sku": "MUG-1", "quantity": 1}])
    with db.write() as conn:
        first = record_sale(conn, request, "till-1", NOW)
    with db.write() as conn:
        again = record_sale(conn, request, "till-1", NOW)
    assert again.replayed
    assert again.event_seq == first.event_seq
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 4
    assert outbox.backlog(db.read()).depth == 2  # the receipt and one sale


def test_a_reused_sale_id_with_other_lines_is_refused(db: StoreDB) -> None:
    _stock(db)
    with db.write() as conn:
        record_sale(
            conn, SaleRequest(sale_id="s1", lines=[{"sku": "MUG-1", "quantity": 1}]), "till-1", NOW
        )
    with pytest.raises(IdempotencyConflict), db.write() as conn:
        record_sale(
            conn, SaleRequest(sale_id="s1", lines=[{"sku": "MUG-1", "quantity": 2}]), "till-1", NOW
        )
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 4


def test_selling_more_than_on_hand_succeeds_and_flags_a_count(db: StoreDB) -> None:
    _stock(db)
    with db.write() as conn:
        result = record_sale(
            conn, SaleRequest(sale_id="s1", lines=[{"sku": "MUG-1", "quantity": 7}]), "t", NOW
        )
    assert result.needs_count == ["MUG-1"]
    here = lookup(db.read(), "store-a", "MUG-1", NOW).here
    assert (here.on_hand, here.available, here.needs_count) == (-2, 0, True)
    with db.write() as conn:
        adjust_stock(
            conn,
            AdjustmentRequest(adjustment_id="c1", sku="MUG-1", delta=3, reason="count"),
            NOW,
        )
    here = lookup(db.read(), "store-a", "MUG-1", NOW).here
    assert (here.on_hand, here.needs_count) == (1, False)


def test_an_unknown_gtin_is_refused_and_nothing_is_written(db: StoreDB) -> None:
    with pytest.raises(UnknownProduct), db.write() as conn:
        record_sale(
            conn, SaleRequest(sale_id="s1", lines=[{"gtin": "96385074", "quantity": 1}]), "t", NOW
        )
    assert outbox.backlog(db.read()).depth == 0
    assert db.read().execute("SELECT count(*) FROM ledger").fetchone() == (0,)


def test_an_uncatalogued_sku_sells_at_the_tills_price(db: StoreDB) -> None:
    with db.write() as conn:
        result = record_sale(
            conn,
            SaleRequest(
                sale_id="s1", lines=[{"sku": "NEW-1", "quantity": 1, "unit_price_cents": 299}]
            ),
            "t",
            NOW,
        )
    assert result.total_cents == 299
    assert result.needs_count == ["NEW-1"]


def test_safety_stock_holds_back_available_to_promise(db: StoreDB) -> None:
    _stock(db)
    with db.write() as conn:
        conn.execute("INSERT INTO safety_stock (sku, quantity) VALUES ('MUG-1', 2)")
    here = lookup(db.read(), "store-a", "4006381333931", NOW).here
    assert (here.on_hand, here.safety_stock, here.available) == (5, 2, 3)


def test_a_failed_transaction_leaves_no_event_behind(db: StoreDB) -> None:
    _stock(db)
    before = outbox.backlog(db.read())

    def sale_then_crash() -> None:
        with db.write() as conn:
            record_sale(
                conn, SaleRequest(sale_id="s9", lines=[{"sku": "MUG-1", "quantity": 1}]), "t", NOW
            )
            raise RuntimeError("power cut in the middle")

    with pytest.raises(RuntimeError):
        sale_then_crash()
    after = outbox.backlog(db.read())
    assert after.depth == before.depth
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 5
    with db.write() as conn:  # the sequence number was rolled back too: no hole in the stream
        seq = record_sale(
            conn, SaleRequest(sale_id="s9", lines=[{"sku": "MUG-1", "quantity": 1}]), "t", NOW
        ).event_seq
    assert seq == before.last_seq + 1


def test_rebase_renumbers_unsent_events_after_the_hubs_position(db: StoreDB) -> None:
    _stock(db)  # a wiped store's first event: sequence 1 again
    with db.write() as conn:
        record_sale(
            conn, SaleRequest(sale_id="s1", lines=[{"sku": "MUG-1", "quantity": 1}]), "t", NOW
        )
        assert outbox.rebase(conn, after=5000) == 2
    conn = db.read()
    rows = conn.execute("SELECT seq, type FROM outbox ORDER BY seq").fetchall()
    assert rows == [(5001, "stock_received"), (5002, "sale_recorded")]
    assert outbox.position(conn, outbox.EVENTS_ACKED) == 5000
    with db.write() as conn:  # new events continue the renumbered stream
        seq = record_sale(
            conn, SaleRequest(sale_id="s2", lines=[{"sku": "MUG-1", "quantity": 1}]), "t", NOW
        ).event_seq
    assert seq == 5003
    assert outbox.last_assigned(db.read()) == 5003


def test_a_second_holder_of_the_store_database_is_refused(db: StoreDB) -> None:
    from edge_agent.db import DatabaseInUse

    with db.exclusive(), pytest.raises(DatabaseInUse, match="in use"), db.exclusive():
        pass
