"""RFID at the edge: presence from raw reads, and cycle counts as ledger adjustments."""

from __future__ import annotations

import time

import pytest

from devices.rfid.epc import encode_sgtin96
from edge_agent import catalog, outbox
from edge_agent.db import StoreDB
from edge_agent.device_actions import CountNotPossible, DeviceActions, UnknownZone
from edge_agent.device_config import RfidSerialConfig
from edge_agent.movements import ReceiptRequest, receive_stock
from edge_agent.policy import FulfilmentPolicy
from edge_agent.rfid_presence import Read, RfidPresence
from edge_agent.stock import lookup
from storelink_contract.common import Product

from .conftest import NOW

ZONES = {("r1", 1): "sales_floor", ("r1", 2): "backroom"}
MUG_GTIN = "80614141123458"  # the GS1 TDS example's GTIN


def tag(serial: int, item_ref: str = "812345") -> str:
    return encode_sgtin96("0614141", item_ref, serial).hex()


def test_the_tds_example_tag_is_an_item_of_its_gtin() -> None:
    presence = RfidPresence(ZONES)
    changes = presence.observe([Read("3074257bf7194e4000001a85", 1, "r1")], 0.0)
    assert [(c.kind, c.gtin, c.zone) for c in changes] == [("arrived", MUG_GTIN, "sales_floor")]


def test_repeated_reads_are_dropped_and_zone_moves_and_departures_reported() -> None:
    presence = RfidPresence(ZONES, dedupe_s=1.0, depart_after_s=30.0)
    read = Read(tag(1), 1, "r1")
    assert len(presence.observe([read] * 50, 0.0)) == 1
    assert presence.duplicates == 49
    assert presence.observe([read], 0.5) == []  # same zone, inside the window
    moved = presence.observe([Read(tag(1), 2, "r1")], 2.0)
    assert [(c.kind, c.zone, c.previous_zone) for c in moved] == [
        ("moved", "backroom", "sales_floor")
    ]
    assert presence.sweep(10.0) == []
    departed = presence.sweep(32.1)
    assert [(c.kind, c.epc) for c in departed] == [("departed", tag(1))]
    assert presence.count_by_gtin() == {}


def test_unmapped_antennas_and_non_sgtin_tags_are_not_counted_as_products() -> None:
    presence = RfidPresence(ZONES)
    presence.observe([Read(tag(1), 9, "r1"), Read("e2801160600002084d4ae3f1", 1, "r1")], 0.0)
    assert presence.unmapped == 1
    assert presence.count_by_gtin() == {}  # the non-SGTIN tag is present but not a product


@pytest.fixture
def shelf(db: StoreDB) -> DeviceActions:
    """7 mugs on the books, 5 tagged mugs on the shelf and 1 in the backroom."""
    with db.write() as conn:
        catalog.upsert(
            conn, [Product(sku="MUG-1", gtin=MUG_GTIN, name="Mug", price_cents=450)], NOW
        )
        receive_stock(
            conn, ReceiptRequest(receipt_id="r", lines=[{"sku": "MUG-1", "quantity": 7}]), NOW
        )
    config = RfidSerialConfig(
        kind="rfid_serial",
        device_id="r1",
        url="/dev/null",
        antennas={1: "sales_floor", 2: "backroom"},
    )
    actions = DeviceActions(db, FulfilmentPolicy(store_id="store-a"), [config])
    reads = [Read(tag(n), 1, "r1") for n in range(5)] + [Read(tag(99), 2, "r1")]
    actions.presence.observe(reads, time.monotonic())
    return actions


LISTENING = (1, time.monotonic() - 3600)  # one reader, connected an hour ago


def test_a_count_with_missing_items_records_the_right_adjustment(
    db: StoreDB, shelf: DeviceActions
) -> None:
    result = shelf.record_count("count-1", ["MUG-1"], LISTENING)
    assert [(d.sku, d.delta, d.reason) for d in result.deltas] == [("MUG-1", -1, "count")]
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 6
    shelf.presence.observe([Read(tag(7), 1, "r1")], time.monotonic())  # the shelf changed
    again = shelf.record_count("count-1", ["MUG-1"], LISTENING)  # a retry: the first answer
    assert again.replayed
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 6
    events = [p for (p,) in db.read().execute("SELECT payload FROM outbox ORDER BY seq")]
    assert '"reason":"count"' in events[-1]
    assert outbox.backlog(db.read()).depth == 2  # the receipt and the count; no raw reads


def test_a_count_of_one_zone_and_a_sku_with_no_tag_heard(db: StoreDB, shelf: DeviceActions) -> None:
    with db.write() as conn:
        catalog.upsert(conn, [Product(sku="CAP-3", name="Cap", price_cents=900)], NOW)
        receive_stock(
            conn, ReceiptRequest(receipt_id="c", lines=[{"sku": "CAP-3", "quantity": 2}]), NOW
        )
    result = shelf.record_count("count-2", ["MUG-1", "CAP-3"], LISTENING)
    assert sorted((d.sku, d.delta) for d in result.deltas) == [("CAP-3", -2), ("MUG-1", -1)]
    assert result.on_hand == {"CAP-3": 0, "MUG-1": 6}


def test_no_count_while_a_reader_is_down_or_has_only_just_connected(
    db: StoreDB, shelf: DeviceActions
) -> None:
    """An empty or partial picture must never write stock off."""
    with pytest.raises(CountNotPossible, match="not connected"):
        shelf.record_count("c-down", ["MUG-1"], (1, None))
    with pytest.raises(CountNotPossible, match="try again shortly"):
        shelf.record_count("c-new", ["MUG-1"], (1, time.monotonic()))
    with pytest.raises(CountNotPossible, match="no RFID reader"):
        shelf.record_count("c-none", ["MUG-1"], (0, None))
    assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 7


def test_items_not_heard_recently_are_not_counted(db: StoreDB, shelf: DeviceActions) -> None:
    """A unit sold a minute ago is not on the shelf, even before the sweep removes it."""
    shelf.presence.observe([Read(tag(50), 1, "r1")], time.monotonic() - 40)
    result = shelf.record_count("c-fresh", ["MUG-1"], LISTENING)
    assert result.on_hand == {"MUG-1": 6}  # the 6 heard now, not the one heard 40 s ago


def test_presence_of_a_zone_no_antenna_covers_is_refused(shelf: DeviceActions) -> None:
    with pytest.raises(UnknownZone, match="salesfloor"):
        shelf.present_by_sku(["salesfloor"])


def test_an_ean8_product_is_found_by_its_gtin14(db: StoreDB) -> None:
    with db.write() as conn:
        catalog.upsert(
            conn, [Product(sku="GUM-8", gtin="96385074", name="Gum", price_cents=99)], NOW
        )
    assert lookup(db.read(), "store-a", "00000096385074", NOW).sku == "GUM-8"
    assert lookup(db.read(), "store-a", "96385074", NOW).sku == "GUM-8"


def test_the_receiving_repeat_window_does_not_slide(db: StoreDB) -> None:
    """Six items scanned steadily 0.4 s apart with a 0.5 s window: the ones past the window
    count; a double trigger inside it does not."""
    actions = DeviceActions(db, FulfilmentPolicy(store_id="store-a"), [])
    assert not actions._repeated("rcv", "A", 0.5)
    assert actions._repeated("rcv", "A", 0.5)  # the double trigger
    time.sleep(0.3)
    assert actions._repeated("rcv", "A", 0.5)  # still inside the first read's window
    time.sleep(0.3)
    assert not actions._repeated("rcv", "A", 0.5)  # 0.6 s after the counted one: a new unit
    assert not actions._repeated("rcv", "B", 0.5)  # another item (or serial): always counts
