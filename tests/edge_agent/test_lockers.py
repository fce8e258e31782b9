"""Locker doors: loading with a staff code, pickup by code or QR, abuse, expiry, faulty boards.

The Kerong board simulator runs on a real pty and the real ``LockerBoard`` client drives it, so
"the door opened once" is counted by the simulated board itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from devices.locker.client import LockerBoard, UnlockResult
from devices.locker.protocol import Sensors
from devices.locker.simulator import LockerBoardSimulator
from edge_agent import alerts, fulfilment, fulfilment_jobs, lockers, picking
from edge_agent.db import StoreDB
from edge_agent.doors import DoorOpener, DoorOutcome
from edge_agent.pickup import CodeRefused, DoorProblem, LockedOut, LockerDesk, NotHere
from tests.edge_agent.fulfilment_helpers import BANK, DirectBoards, Shop, open_shop

DOOR_M = 2  # bank-a-03, the medium compartment (lock 2 on the wire)


@pytest.fixture
def shop(db: StoreDB) -> Iterator[Shop]:
    opened = open_shop(db)
    yield opened
    opened.board.close()
    opened.sim.close()


def packed_order(shop: Shop, order_id: str = "W2001") -> tuple[str, str, str]:
    """An order accepted, picked and packed into the medium locker: (code, qr, load code)."""
    shop.allocate(order_id, {"MUG-1": 2})
    secrets = shop.pickup(order_id)
    with shop.db.write() as conn:
        picking.pick(conn, order_id, "MUG-1", 2, shop.clock.now)
        packed = picking.pack(conn, shop.policy, order_id, "M", shop.clock.now)
    assert packed.load_code is not None
    return secrets.code, secrets.qr, packed.load_code


def load(shop: Shop, load_code: str) -> None:
    """Staff open the compartment with the load code, put the parcel in, shut the door."""
    opened = shop.desk.enter_code("locker-1", load_code)
    assert opened.purpose == "load"
    shop.sim.put_item(DOOR_M)
    shop.sim.close_door(DOOR_M)
    shop.poll()


def compartment(shop: Shop) -> lockers.Compartment:
    found = lockers.get(shop.db.read(), "bank-a-03")
    assert found is not None
    return found


def test_load_then_pickup_by_code_opens_the_right_door_once(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    with pytest.raises(NotHere, match="not ready yet"):
        shop.desk.enter_code("locker-1", code)  # the customer is early: nothing opens
    load(shop, load_code)
    assert shop.sim.unlock_count(DOOR_M) == 1
    order = fulfilment.latest(shop.db.read(), "W2001")
    assert order.status == "ready"
    assert order.pickup_expires_at == shop.clock.now + timedelta(hours=72)
    assert [e["location"]["location_id"] for e in shop.events("order_ready")] == ["bank-a-03"]

    opened = shop.desk.enter_code("locker-1", code)
    assert opened.door == f"{BANK} door 3"
    assert opened.purpose == "pickup"
    assert shop.sim.unlock_count(DOOR_M) == 2  # once to load, once for the customer
    assert shop.sim.is_open(DOOR_M)
    assert fulfilment.latest(shop.db.read(), "W2001").status == "collected"
    assert shop.on_hand("MUG-1") == (3, 0)  # the units left the store with the customer
    (collected,) = shop.events("order_collected")
    assert collected["deltas"] == [{"sku": "MUG-1", "delta": -2, "reason": "fulfilment"}]

    shop.sim.remove_item(DOOR_M)
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert compartment(shop).state == "free"
    with pytest.raises(CodeRefused, match="already been used"):
        shop.desk.enter_code("locker-1", code)
    assert shop.sim.unlock_count(DOOR_M) == 2
    audit = (
        shop.db.read()
        .execute("SELECT purpose, actor, outcome FROM door_audit ORDER BY id")
        .fetchall()
    )
    assert audit == [
        ("load", "locker-1", "opened (reply)"),
        ("pickup", "locker-1", "opened (reply)"),
    ]
    assert [e["purpose"] for e in shop.events("locker_door_opened")] == ["load", "pickup"]


def test_the_qr_token_opens_the_door_too(shop: Shop) -> None:
    code, qr, load_code = packed_order(shop)
    load(shop, load_code)
    with pytest.raises(CodeRefused, match="for collection at store store-b"):
        shop.desk.show_qr("cam-1", qr.replace("store-a", "store-b"))
    opened = shop.desk.show_qr("cam-1", qr)
    assert opened.order_id == "W2001"
    with pytest.raises(CodeRefused, match="already been used"):
        shop.desk.enter_code("locker-1", code)  # code and QR are one pickup


def test_a_load_that_closes_on_an_empty_compartment_is_not_a_ready_order(shop: Shop) -> None:
    _code, _qr, load_code = packed_order(shop)
    shop.desk.enter_code("locker-1", load_code)
    shop.sim.close_door(DOOR_M)  # shut without the parcel
    shop.poll()
    assert compartment(shop).state == "assigned"
    assert fulfilment.latest(shop.db.read(), "W2001").status == "packed"
    assert [a.kind for a in alerts.recent(shop.db.read())] == ["load_not_confirmed"]
    load(shop, load_code)  # the same load code again, this time with the parcel
    assert fulfilment.latest(shop.db.read(), "W2001").status == "ready"


def test_ten_thousand_wrong_codes_open_nothing_and_lock_the_terminal(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    unlocks_before = shop.sim.total_unlocks
    refused = locked = 0
    for guess in range(10_000):
        try:
            shop.desk.enter_code("locker-1", f"{guess:08d}")
        except LockedOut:
            locked += 1
        except CodeRefused:
            refused += 1
    assert shop.sim.total_unlocks == unlocks_before  # not one door opened
    assert refused == 4  # the fifth wrong code starts the lockout
    assert locked == 9_996
    assert [a.kind for a in alerts.recent(shop.db.read())] == ["pickup_lockout"]
    with pytest.raises(LockedOut, match="locked for 15 more minute"):
        shop.desk.enter_code("locker-1", code)  # even the right code waits out the lockout
    shop.desk.enter_code("kiosk-2", code)  # another terminal is not locked
    assert fulfilment.latest(shop.db.read(), "W2001").status == "collected"


def test_a_lockout_ends_after_its_time(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    for guess in range(5):
        with pytest.raises((CodeRefused, LockedOut)):
            shop.desk.enter_code("locker-1", f"9{guess:07d}")
    with pytest.raises(LockedOut) as caught:
        shop.desk.enter_code("locker-1", code)
    assert 0 < caught.value.retry_after_s <= 15 * 60
    shop.clock.advance(minutes=16)
    assert shop.desk.enter_code("locker-1", code).purpose == "pickup"


def test_wrong_codes_for_a_named_order_lock_that_order(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    for n in range(5):  # from five different terminals: only the order's limit adds up
        with pytest.raises((CodeRefused, LockedOut)):
            shop.desk.enter_code(f"terminal-{n}", "12345678", order_id="W2001")
    with pytest.raises(LockedOut, match="order W2001"):
        shop.desk.enter_code("terminal-9", code, order_id="W2001")
    with pytest.raises(LockedOut, match="order W2001"):  # nor by leaving the order out
        shop.desk.enter_code("terminal-9", code)
    assert shop.sim.unlock_count(DOOR_M) == 1  # the load only
    with shop.db.write() as conn:  # staff give the customer a new code, which lifts the lock
        fresh = fulfilment.reissue_code(conn, shop.policy, "W2001", "locked out", shop.clock.now)
    with pytest.raises(CodeRefused, match="replaced by a newer one"):
        shop.desk.enter_code("terminal-9", code, order_id="W2001")
    assert shop.desk.enter_code("terminal-9", fresh.code, order_id="W2001").purpose == "pickup"


def test_an_expired_code_never_opens_and_the_parcel_is_flagged_for_retrieval(
    shop: Shop,
) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.clock.advance(hours=25)
    report = fulfilment_jobs.run(shop.db, shop.policy, shop.clock.now)
    assert report.reminded == ["W2001"]
    shop.clock.advance(hours=36)  # 61 h: within 12 h of the end of the 72 h hold
    assert fulfilment_jobs.run(shop.db, shop.policy, shop.clock.now).warned == ["W2001"]
    shop.clock.advance(hours=12)
    assert fulfilment_jobs.run(shop.db, shop.policy, shop.clock.now).expired == ["W2001"]
    assert [e["kind"] for e in shop.events("pickup_reminder_due")] == ["reminder", "expiring"]
    assert shop.on_hand("MUG-1") == (5, 0)  # back to sellable: it never left the store
    assert compartment(shop).state == "retrieval"
    with pytest.raises(CodeRefused, match="expired"):
        shop.desk.enter_code("locker-1", code)
    assert shop.sim.unlock_count(DOOR_M) == 1  # only the load ever opened it

    shop.desk.open_for_staff("staff-1", "bank-a-03", "retrieval")
    shop.sim.remove_item(DOOR_M)
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert compartment(shop).state == "free"


def test_a_board_that_opens_but_does_not_answer_opens_once(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.sim.answers_unlock = False  # the lock releases, the reply never comes
    opened = shop.desk.enter_code("locker-1", code)
    assert opened.confirmed_by == "status"  # the board's status showed the door open
    assert shop.sim.unlock_count(DOOR_M) == 2  # load + this pickup: no second pulse


def test_a_board_gone_silent_after_the_pulse_is_never_pulsed_again_blindly(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.sim.browns_out_on_unlock = True  # the lock releases, then the board answers nothing
    with pytest.raises(DoorProblem, match="did not confirm"):
        shop.desk.enter_code("locker-1", code)
    assert shop.sim.unlock_count(DOOR_M) == 2
    assert compartment(shop).unconfirmed
    assert "door_unconfirmed" in [a.kind for a in alerts.recent(shop.db.read())]
    with pytest.raises(DoorProblem):
        shop.desk.enter_code("locker-1", code)  # still silent: nothing is sent blindly
    assert shop.sim.unlock_count(DOOR_M) == 2

    shop.sim.browns_out_on_unlock = False
    shop.sim.responsive = True  # the board is back; its status shows the door open
    again = shop.desk.enter_code("locker-1", code)
    assert again.confirmed_by == "already_open"
    assert shop.sim.unlock_count(DOOR_M) == 2  # one pulse for the customer, in all
    assert fulfilment.latest(shop.db.read(), "W2001").status == "collected"


def test_two_taps_at_once_open_the_door_once(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.sim.faults.reply_delay_s = 0.1  # a slow board: both taps arrive while it works
    results: list[str] = []

    def tap() -> None:
        try:
            results.append(shop.desk.enter_code("locker-1", code).purpose)
        except Exception as exc:
            results.append(type(exc).__name__)

    taps = [threading.Thread(target=tap) for _ in range(2)]
    for t in taps:
        t.start()
    for t in taps:
        t.join()
    # The second tap is refused (busy, or the code is used by then) or finds the door open.
    assert sorted(results) in (["DoorBusy", "pickup"], ["CodeRefused", "pickup"], ["pickup"] * 2)
    assert shop.sim.unlock_count(DOOR_M) == 2
    assert len(shop.events("order_collected")) == 1  # one pickup, however many taps


def test_a_door_left_open_raises_one_alert(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.desk.enter_code("locker-1", code)
    shop.sim.remove_item(DOOR_M)
    shop.poll()
    shop.clock.advance(minutes=3)
    shop.poll()
    shop.poll()
    assert [a.kind for a in alerts.recent(shop.db.read())] == ["door_left_open"]
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert compartment(shop).state == "free"


def test_a_door_forced_open_is_an_alert(shop: Shop) -> None:
    _code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.sim.open_door_by_hand(DOOR_M)
    shop.poll()
    (alert,) = alerts.recent(shop.db.read())
    assert alert.kind == "door_opened_unexpectedly"
    assert alert.severity == "critical"


def test_a_parcel_at_the_shelf_is_handed_over_at_the_counter(shop: Shop) -> None:
    shop.allocate("W2002", {"TEE-2": 1}, method="store_pickup")
    code = shop.pickup("W2002").code
    with shop.db.write() as conn:
        picking.pick(conn, "W2002", "TEE-2", 1, shop.clock.now)
        picking.pack(conn, shop.policy, "W2002", "S", shop.clock.now)
    with pytest.raises(NotHere, match="pickup counter"):
        shop.desk.enter_code("locker-1", code)
    order = shop.desk.hand_over("staff-1", code, None)
    assert order.status == "collected"
    assert shop.on_hand("TEE-2") == (2, 0)
    assert shop.events("order_collected")[0]["via"] == "counter"


def test_an_unconfirmed_unlock_is_settled_by_the_sensors(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    shop.sim.browns_out_on_unlock = True
    with pytest.raises(DoorProblem):
        shop.desk.enter_code("locker-1", code)
    shop.sim.browns_out_on_unlock = False
    shop.sim.responsive = True
    shop.sim.remove_item(DOOR_M)  # the customer took the parcel and shut the door
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert fulfilment.latest(shop.db.read(), "W2001").status == "collected"
    assert shop.on_hand("MUG-1") == (3, 0)
    assert compartment(shop).state == "free"
    shop.clock.advance(hours=80)  # and it is never expired and refunded later
    assert fulfilment_jobs.run(shop.db, shop.policy, shop.clock.now).expired == []


def test_an_order_expiring_while_its_door_opens_still_takes_its_units(shop: Shop) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    board = shop.board

    class ExpiresMidOpen(DirectBoards):
        def open(self, board_device: str, lock: int) -> UnlockResult:
            late = shop.clock.now + timedelta(hours=73)  # the job runs while the door opens
            fulfilment_jobs.run(shop.db, shop.policy, late)
            return super().open(board_device, lock)

    desk = LockerDesk(shop.db, shop.policy, DoorOpener(ExpiresMidOpen({BANK: board})), shop.clock)
    desk.enter_code("locker-1", code)
    assert shop.on_hand("MUG-1") == (3, 0)  # the parcel left: its units left on-hand too
    (collected,) = shop.events("order_collected")
    assert collected["deltas"] == [{"sku": "MUG-1", "delta": -2, "reason": "fulfilment"}]
    assert "collected_after_close" in [a.kind for a in alerts.recent(shop.db.read())]


def test_a_load_unlock_the_board_never_confirmed_settles_when_the_parcel_is_seen(
    shop: Shop,
) -> None:
    _code, _qr, load_code = packed_order(shop)
    shop.sim.browns_out_on_unlock = True
    with pytest.raises(DoorProblem):
        shop.desk.enter_code("locker-1", load_code)  # the door did release; the board went quiet
    shop.sim.browns_out_on_unlock = False
    shop.sim.responsive = True
    shop.poll()  # the board is back and sees the door open: staff are loading
    assert compartment(shop).state == "loading"
    shop.sim.put_item(DOOR_M)
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert compartment(shop).state == "occupied"
    assert not compartment(shop).unconfirmed
    assert fulfilment.latest(shop.db.read(), "W2001").status == "ready"


def test_a_load_after_an_unconfirmed_unlock_pulses_the_empty_door_again(shop: Shop) -> None:
    _code, _qr, load_code = packed_order(shop)
    shop.sim.browns_out_on_unlock = True
    with pytest.raises(DoorProblem):
        shop.desk.enter_code("locker-1", load_code)
    shop.sim.close_door(DOOR_M)  # staff saw the error and shut the empty door
    shop.sim.browns_out_on_unlock = False
    shop.sim.responsive = True
    shop.poll()
    pulses = shop.sim.unlock_count(DOOR_M)
    again = shop.desk.enter_code("locker-1", load_code)
    assert again.purpose == "load"
    assert shop.sim.unlock_count(DOOR_M) == pulses + 1  # really opened, not just said so
    assert shop.sim.is_open(DOOR_M)


class _LateOpener:
    """The real DoorOpener; the thread named ``late`` is held just before it, as a scheduler
    may hold a request between its check and the door."""

    def __init__(self, real: DoorOpener) -> None:
        self.real = real
        self.checked = threading.Event()
        self.go = threading.Event()

    def open(self, c: lockers.Compartment, **kwargs: Any) -> DoorOutcome:
        if threading.current_thread().name == "late":
            self.checked.set()
            assert self.go.wait(10)
        return self.real.open(c, **kwargs)


def test_a_code_checked_before_another_tap_used_it_never_pulses_the_door_again(
    shop: Shop,
) -> None:
    code, _qr, load_code = packed_order(shop)
    load(shop, load_code)
    gate = _LateOpener(DoorOpener(DirectBoards({BANK: shop.board})))
    shop.desk._opener = gate  # type: ignore[assignment]
    late: list[object] = []

    def tap() -> None:
        try:
            late.append(shop.desk.enter_code("locker-1", code))
        except CodeRefused as exc:
            late.append(exc)

    slow = threading.Thread(target=tap, name="late")
    slow.start()
    assert gate.checked.wait(10)  # the slow tap has passed its check: the code was good then
    assert shop.desk.enter_code("locker-2", code).purpose == "pickup"  # the other one wins
    shop.sim.remove_item(DOOR_M)
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert compartment(shop).state == "free"
    gate.go.set()
    slow.join(10)
    (answer,) = late
    assert isinstance(answer, CodeRefused)
    assert "used a moment ago" in str(answer)
    assert shop.sim.unlock_count(DOOR_M) == 2  # the load and the one pickup
    assert not shop.sim.is_open(DOOR_M)


@pytest.fixture
def door_only_shop(db: StoreDB) -> Iterator[Shop]:
    """The same shop, but its board has door switches and no item sensors."""
    opened = open_shop(db)
    opened.board.close()
    opened.sim.close()
    sim = LockerBoardSimulator(sensors=Sensors.DOOR)
    board = LockerBoard(sim.path, timeout_s=0.2, sensors=Sensors.DOOR)
    opened.sim, opened.board = sim, board
    opened.desk = LockerDesk(
        db, opened.policy, DoorOpener(DirectBoards({BANK: board})), opened.clock
    )
    yield opened
    board.close()
    sim.close()


def test_a_manager_settles_an_unconfirmed_pickup_the_sensors_cannot(door_only_shop: Shop) -> None:
    shop = door_only_shop
    code, _qr, load_code = packed_order(shop)
    assert shop.desk.enter_code("locker-1", load_code).purpose == "load"
    shop.sim.close_door(DOOR_M)
    shop.poll()
    assert fulfilment.latest(shop.db.read(), "W2001").status == "ready"
    shop.sim.browns_out_on_unlock = True
    with pytest.raises(DoorProblem):
        shop.desk.enter_code("locker-1", code)  # the door released; the board went quiet
    shop.sim.close_door(DOOR_M)  # and the customer took the parcel meanwhile
    shop.sim.browns_out_on_unlock = False
    shop.sim.responsive = True
    shop.poll()
    assert compartment(shop).unconfirmed  # a closed door says nothing without item sensors
    with pytest.raises(DoorProblem, match="a member of staff will help you"):
        shop.desk.enter_code("locker-1", code)
    found = shop.desk.settle("manager-1", "bank-a-03", parcel_inside=False)
    assert "collected" in found
    assert fulfilment.latest(shop.db.read(), "W2001").status == "collected"
    assert compartment(shop).state == "free"
    assert shop.on_hand("MUG-1") == (3, 0)  # on hand, reserved: the mugs left with the customer
    assert "door_settled" in [a.kind for a in alerts.recent(shop.db.read())]
    with pytest.raises(NotHere, match="no unconfirmed unlock"):
        shop.desk.settle("manager-1", "bank-a-03", parcel_inside=False)
