"""Online orders at the store: allocation, picking by scan, packing, expiry and cancellation.

Real SQLite file and the real board simulator; the clock is moved by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from edge_agent import fulfilment, fulfilment_jobs, picking, reservations
from edge_agent.db import StoreDB
from edge_agent.fulfilment import WrongOrderState
from edge_agent.pickup import CodeRefused
from edge_agent.stock import lookup
from storelink_contract.orders import ShippingAddress
from tests.edge_agent.fulfilment_helpers import Shop, open_shop


@pytest.fixture
def shop(db: StoreDB) -> Iterator[Shop]:
    opened = open_shop(db)
    yield opened
    opened.board.close()
    opened.sim.close()


def test_an_allocation_reserves_stock_and_issues_pickup_secrets(shop: Shop) -> None:
    shop.allocate("W1001", {"MUG-1": 2})
    accepted = shop.events("order_accepted")
    assert len(accepted) == 1
    assert accepted[0]["order_id"] == "W1001"
    secrets = shop.pickup("W1001")
    assert len(secrets.code) == 8
    assert secrets.qr.startswith("SLP1:store-a:")
    assert shop.on_hand("MUG-1") == (5, 2)  # still on the shelf, but promised
    here = lookup(shop.db.read(), "store-a", "MUG-1", shop.clock.now)
    assert here is not None
    assert (here.here.on_hand, here.here.reserved, here.here.available) == (5, 2, 3)
    # the code and the QR are nowhere in the database: keyed hashes, and a box sealed to the hub
    dump = "\n".join(shop.db.read().iterdump())
    assert secrets.code not in dump
    assert secrets.qr.split(":")[-1] not in dump


def test_a_duplicated_allocation_reserves_once(shop: Shop) -> None:
    shop.allocate("W1002", {"MUG-1": 2})
    shop.allocate("W1002", {"MUG-1": 2})  # the same allocation again (a resend, a replay)
    assert shop.on_hand("MUG-1") == (5, 2)
    assert len(shop.events("order_accepted")) == 1
    assert reservations.check_invariant(shop.db.read()) == []


def test_not_enough_stock_is_rejected_with_what_there_is(shop: Shop) -> None:
    shop.allocate("W1003", {"MUG-1": 4})
    shop.allocate("W1004", {"MUG-1": 2, "CAP-3": 1})  # only 1 mug left to promise, no caps
    (rejected,) = shop.events("order_rejected")
    assert rejected["order_id"] == "W1004"
    assert rejected["short"] == {"MUG-1": 1, "CAP-3": 0}
    assert "MUG-1: 1 of 2 available" in rejected["reason"]
    assert shop.on_hand("MUG-1") == (5, 4)  # the rejected order reserved nothing


def test_an_allocation_arriving_after_its_deadline_is_rejected(shop: Shop) -> None:
    shop.allocate("W1005", {"MUG-1": 1}, respond_by=shop.clock.now - timedelta(seconds=1))
    (rejected,) = shop.events("order_rejected")
    assert "after its deadline" in rejected["reason"]
    assert shop.on_hand("MUG-1") == (5, 0)


def test_picking_refuses_the_wrong_item_and_too_many(shop: Shop) -> None:
    shop.allocate("W1006", {"MUG-1": 2})
    with shop.db.write() as conn:
        wrong = picking.pick(conn, "W1006", "0012345678905", 1, shop.clock.now)  # a tee
        first = picking.pick(conn, "W1006", "04006381333931", 1, shop.clock.now)  # GTIN-14
        second = picking.pick(conn, "W1006", "MUG-1", 1, shop.clock.now)
        third = picking.pick(conn, "W1006", "MUG-1", 1, shop.clock.now)
        unknown = picking.pick(conn, "W1006", "9999", 1, shop.clock.now)
    assert not wrong.accepted
    assert "Organic tee (TEE-2) is not on order W1006" in wrong.message
    assert first.accepted
    assert "1 item(s) to go" in first.message
    assert second.accepted
    assert "all picked" in second.message
    assert not third.accepted
    assert "2 of 2 already picked" in third.message
    assert not unknown.accepted
    order = fulfilment.latest(shop.db.read(), "W1006")
    assert order.status == "picking"
    assert order.lines[0].picked == 2
    assert order.last_pick_message.startswith("refused:")
    assert [e["status"] for e in shop.events("order_progressed")] == ["picking"]


def test_packing_needs_every_item_and_takes_the_smallest_locker_that_fits(shop: Shop) -> None:
    shop.allocate("W1007", {"MUG-1": 1})
    with shop.db.write() as conn:
        with pytest.raises(WrongOrderState, match="1 item"):
            picking.pack(conn, shop.policy, "W1007", "M", shop.clock.now)
        picking.pick(conn, "W1007", "MUG-1", 1, shop.clock.now)
        packed = picking.pack(conn, shop.policy, "W1007", "M", shop.clock.now)
    assert packed.location is not None
    assert packed.location.location_id == "bank-a-03"  # the one medium door, not the large
    assert packed.load_code is not None
    assert len(packed.load_code) == 8
    assert packed.order.status == "packed"


def test_with_the_lockers_full_a_parcel_goes_to_the_shelf_and_is_ready(shop: Shop) -> None:
    shop.allocate("W1008", {"MUG-1": 1})
    shop.allocate("W1009", {"MUG-1": 1})
    with shop.db.write() as conn:
        for order_id in ("W1008", "W1009"):
            picking.pick(conn, order_id, "MUG-1", 1, shop.clock.now)
        large = picking.pack(conn, shop.policy, "W1008", "L", shop.clock.now)
        shelved = picking.pack(conn, shop.policy, "W1009", "L", shop.clock.now)
    assert large.location is not None
    assert large.location.location_id == "bank-a-04"
    assert shelved.location is not None
    assert shelved.location.kind == "shelf"
    assert shelved.load_code is None
    assert shelved.order.status == "ready"
    (ready,) = shop.events("order_ready")
    assert ready["order_id"] == "W1009"
    assert ready["location"]["kind"] == "shelf"


def test_a_shipped_order_takes_its_units_off_on_hand(shop: Shop) -> None:
    home = ShippingAddress(line1="Chausseestr. 10", postcode="10115", city="Berlin", country="DE")
    shop.allocate("W1010", {"TEE-2": 2}, method="ship_from_store", ship_address=home)
    assert shop.events("order_accepted")[0]["sealed_pickup"] is None  # nothing to collect
    with shop.db.read() as conn:
        assert fulfilment.latest(conn, "W1010").ship_address == home  # for the label
    with shop.db.write() as conn:
        picking.pick(conn, "W1010", "TEE-2", 2, shop.clock.now)
        picking.pack(conn, shop.policy, "W1010", "M", shop.clock.now)
        picking.ship(conn, "W1010", "DHL", "JD0001", shop.clock.now)
    assert shop.on_hand("TEE-2") == (1, 0)
    shipped = shop.events("order_progressed")[-1]
    assert shipped["status"] == "shipped"
    assert shipped["deltas"] == [{"sku": "TEE-2", "delta": -2, "reason": "fulfilment"}]


def test_a_cancelled_order_releases_its_reservation(shop: Shop) -> None:
    shop.allocate("W1011", {"MUG-1": 3})
    code = shop.pickup("W1011").code
    shop.cancel("W1011")
    shop.cancel("W1011")  # a second cancel finds nothing more to release
    assert shop.on_hand("MUG-1") == (5, 0)
    assert len(shop.events("order_released")) == 1
    assert fulfilment.latest(shop.db.read(), "W1011").status == "released"
    with pytest.raises(CodeRefused, match="this order was cancelled"):  # says why it is dead
        shop.desk.enter_code("locker-1", code)


def test_an_order_not_ready_before_its_reservation_runs_out_expires(shop: Shop) -> None:
    shop.allocate("W1012", {"MUG-1": 1})
    shop.clock.advance(hours=49)  # the pick deadline is 48 h
    report = fulfilment_jobs.run(shop.db, shop.policy, shop.clock.now)
    assert report.expired == ["W1012"]
    assert shop.on_hand("MUG-1") == (5, 0)
    (expired,) = shop.events("order_expired")
    assert "reservation ran out" in expired["reason"]
