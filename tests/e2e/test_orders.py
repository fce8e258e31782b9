"""Online orders end to end: a web order reaches a store, is picked by scanning, loaded into a
locker and collected by code, with real agent and hub processes, a real broker, and the
locker board and pick-station scanner simulated on ptys.

The customer's pickup code comes from where a customer gets it: the hub's notifications (its
log notifier writes them to a file, the customer's inbox here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.locker.simulator import LockerBoardSimulator
from devices.scanner.simulator import ScannerSimulator
from tests.e2e.chain import (
    LOCKER_TOKEN,
    STAFF_TOKEN,
    WEB_TOKEN,
    Chain,
    Service,
    wait_for,
)
from tests.e2e.test_sync import CATALOG, catalog_arrived, receive

DOOR = 2  # lock 2 on the wire: door 3, the medium compartment


@pytest.fixture
def lockers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Store A's locker bank (board on a pty) and pack-station scanner."""
    board = LockerBoardSimulator()
    station = ScannerSimulator(link=tmp_path / "ttyPICK")
    devices = [
        {
            "kind": "locker_board",
            "device_id": "bank-a",
            "url": board.path,
            "poll_interval_s": 0.2,
            "compartments": {"1": "S", "2": "S", "3": "M", "4": "L"},
        },
        {
            "kind": "scanner",
            "device_id": "pick-1",
            "url": station.path,
            "role": "picking",
            "repeat_window_s": 0.2,
        },
    ]
    devices_file = tmp_path / "devices.json"
    devices_file.write_text(json.dumps(devices))
    try:
        yield {"file": devices_file, "board": board, "station": station}
    finally:
        station.close()
        board.close()


def web_order(client_order_id: str, quantity: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "method": "locker_pickup",
        "lines": [{"sku": "MUG-1", "quantity": quantity}],
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "tenders": [
            {
                "kind": "card",
                "amount_cents": 450 * quantity,
                "processor_token": "tok_visa_4242",
                "last4": "4242",
            }
        ],
        **extra,
    }


def hub_order(chain: Chain, order_id: str) -> Any:
    assert chain.hub is not None
    return chain.hub.get(f"/v1/orders/{order_id}", WEB_TOKEN)


def place(chain: Chain, body: dict[str, Any]) -> str:
    assert chain.hub is not None
    with chain.hub.client(WEB_TOKEN) as web:
        r = web.post("/v1/orders", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["order_id"])


def status_is(chain: Chain, order_id: str, status: str) -> Any:
    order = hub_order(chain, order_id)
    return order if order["status"] == status else None


def pickup_code(chain: Chain, order_id: str) -> str:
    """The code from the order confirmation in the customer's inbox."""
    note = wait_for(
        f"the confirmation of {order_id} in the customer's inbox",
        lambda: next((n for n in chain.notifications(order_id) if n["kind"] == "confirmed"), None),
    )
    return str(note["pickup"]["code"])


def pick_pack_and_load(
    store: Service, hardware: dict[str, Any], order_id: str, quantity: int = 2
) -> dict[str, Any]:
    """Staff pick at the pack station by scanning, pack, and load the locker with the code."""
    with store.client(STAFF_TOKEN) as staff:
        assert staff.get("/v1/picklist").json()[0]["order_id"] == order_id
        r = staff.post(f"/v1/orders/{order_id}/picking", json={"station": "pick-1"})
        assert r.status_code == 200, r.text
        station: ScannerSimulator = hardware["station"]
        assert station.scan("0012345678905")  # a tee: not on this order
        wait_for(
            "the wrong item to be refused",
            lambda: (
                "not on order" in staff.get(f"/v1/orders/{order_id}").json()["last_pick_message"]
            ),
        )
        for _ in range(quantity):
            assert station.scan("4006381333931")
            time.sleep(0.3)  # beyond the repeat window: each scan is one mug
        wait_for(
            "every mug picked",
            lambda: staff.get(f"/v1/orders/{order_id}").json()["lines"][0]["picked"] == quantity,
        )
        packed = staff.post(f"/v1/orders/{order_id}/pack", json={"parcel_size": "M"})
        assert packed.status_code == 200, packed.text
        result = packed.json()
    assert result["location"]["location_id"] == "bank-a-03"
    with store.client(LOCKER_TOKEN) as keypad:
        opened = keypad.post("/v1/lockers/codes", json={"code": result["load_code"]})
        assert opened.status_code == 200, opened.text
    board: LockerBoardSimulator = hardware["board"]
    board.put_item(DOOR)
    board.close_door(DOOR)  # the door-closed sensor confirms the load
    wait_for(
        "the order to be ready at the store",
        lambda: store.get(f"/v1/orders/{order_id}")["status"] == "ready",
    )
    return result


def start(chain: Chain, hardware: dict[str, Any], **store_settings: str) -> tuple[Service, Service]:
    chain.start_hub(allocation_timeout_s="30")
    a = chain.start_store(
        "store-a",
        devices_file=str(hardware["file"]),
        fulfilment_job_interval_s="0.5",
        **store_settings,
    )
    b = chain.start_store("store-b")
    chain.push_catalog(CATALOG)
    wait_for("the catalog at store-a", lambda: catalog_arrived(a))
    wait_for("the catalog at store-b", lambda: catalog_arrived(b))
    return a, b


def test_web_order_to_locker_pickup_end_to_end(
    chain_any_db: Chain, lockers: dict[str, Any]
) -> None:
    chain = chain_any_db
    a, _b = start(chain, lockers)
    receive(a, "MUG-1", 5)  # store-b has none: the order can only go to store-a
    wait_for("store-a's stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)

    order_id = place(chain, web_order("web-e2e-1"))
    wait_for("store-a to accept", lambda: status_is(chain, order_id, "accepted"))
    code = pickup_code(chain, order_id)
    kiosk_view = a.get("/v1/stock/MUG-1", STAFF_TOKEN)["here"]
    assert (kiosk_view["on_hand"], kiosk_view["reserved"], kiosk_view["available"]) == (5, 2, 3)

    pick_pack_and_load(a, lockers, order_id)
    wait_for("the hub to see the order ready", lambda: status_is(chain, order_id, "ready"))
    wait_for(
        "the ready notification",
        lambda: any(n["kind"] == "ready" for n in chain.notifications(order_id)),
    )

    board: LockerBoardSimulator = lockers["board"]
    with a.client(LOCKER_TOKEN) as keypad:
        wrong = keypad.post("/v1/lockers/codes", json={"code": "00000000"})
        assert wrong.status_code == 422
        opened = keypad.post("/v1/lockers/codes", json={"code": code})
        assert opened.status_code == 200, opened.text
        assert opened.json()["door"] == "bank-a door 3"
        assert board.is_open(DOOR)
        board.remove_item(DOOR)
        board.close_door(DOOR)
        again = keypad.post("/v1/lockers/codes", json={"code": code})
        assert again.status_code == 422
        assert "already been used" in again.json()["detail"]
    assert board.unlock_count(DOOR) == 2  # staff loading, then the customer

    final = wait_for("the hub to see the pickup", lambda: status_is(chain, order_id, "collected"))
    assert [s["status"] for s in final["timeline"]].count("collected") == 1
    wait_for(
        "the hub's stock view to drop by 2", lambda: chain.hub_on_hand("store-a") == {"MUG-1": 3}
    )
    assert a.get("/v1/stock/MUG-1", STAFF_TOKEN)["here"]["reserved"] == 0
    with a.client(STAFF_TOKEN) as staff:
        audit = staff.get("/v1/lockers/audit").json()
    assert [(e["purpose"], e["actor"]) for e in reversed(audit)] == [
        ("load", "locker-1"),
        ("pickup", "locker-1"),
    ]


def test_pickup_works_with_the_broker_down_and_the_hub_learns_it_once(
    chain: Chain, lockers: dict[str, Any]
) -> None:
    a, _b = start(chain, lockers)
    receive(a, "MUG-1", 5)
    wait_for("store-a's stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = place(chain, web_order("web-e2e-offline"))
    wait_for("store-a to accept", lambda: status_is(chain, order_id, "accepted"))
    code = pickup_code(chain, order_id)

    chain.broker.stop()  # the store is cut off from the hub from here on
    pick_pack_and_load(a, lockers, order_id)
    with a.client(LOCKER_TOKEN) as keypad:
        opened = keypad.post("/v1/lockers/codes", json={"code": code})
        assert opened.status_code == 200, opened.text
    lockers["board"].remove_item(DOOR)
    lockers["board"].close_door(DOOR)
    assert a.get(f"/v1/orders/{order_id}", STAFF_TOKEN)["status"] == "collected"
    assert hub_order(chain, order_id)["status"] == "accepted"  # the hub has heard nothing yet
    assert chain.store_backlog("store-a") > 0

    chain.broker.start()
    final = wait_for(
        "the hub to learn of the pickup", lambda: status_is(chain, order_id, "collected"), 60
    )
    steps = [s["status"] for s in final["timeline"]]
    for step in ("picking", "packed", "ready", "collected"):
        assert steps.count(step) == 1, steps
    wait_for("store-a's outbox to drain", lambda: chain.store_backlog("store-a") == 0)
    assert chain.hub_on_hand("store-a") == {"MUG-1": 3}
    # The hub's notification job sends on its own schedule: wait for it, then count.
    wait_for(
        "the ready message to the customer",
        lambda: any(n["kind"] == "ready" for n in chain.notifications(order_id)),
    )
    kinds = [n["kind"] for n in chain.notifications(order_id)]
    assert kinds.count("confirmed") == 1
    assert kinds.count("ready") == 1


def test_a_store_that_rejects_gets_the_order_rerouted(
    chain: Chain, lockers: dict[str, Any]
) -> None:
    a, b = start(chain, lockers)
    receive(a, "MUG-1", 5)
    receive(b, "MUG-1", 5)
    wait_for("stock at the hub", lambda: chain.hub_on_hand("store-b").get("MUG-1") == 5)
    # The customer picks store-b, whose profile offers lockers, but store-b has no locker bank
    # configured: it rejects, and the hub gives the order to store-a.
    order_id = place(chain, web_order("web-e2e-reroute", store_id="store-b"))
    order = wait_for("store-a to accept", lambda: status_is(chain, order_id, "accepted"))
    assert order["store_id"] == "store-a"
    assert [(x["store_id"], x["status"]) for x in order["allocations"]] == [
        ("store-b", "rejected"),
        ("store-a", "accepted"),
    ]
    assert "no locker compartments" in order["allocations"][0]["reason"]
    assert b.get("/v1/stock/MUG-1", STAFF_TOKEN)["here"]["reserved"] == 0
    assert a.get("/v1/stock/MUG-1", STAFF_TOKEN)["here"]["reserved"] == 2


def test_a_board_that_opens_without_answering_opens_once(
    chain: Chain, lockers: dict[str, Any]
) -> None:
    a, _b = start(chain, lockers)
    receive(a, "MUG-1", 5)
    wait_for("store-a's stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = place(chain, web_order("web-e2e-silent"))
    wait_for("store-a to accept", lambda: status_is(chain, order_id, "accepted"))
    code = pickup_code(chain, order_id)
    pick_pack_and_load(a, lockers, order_id)
    board: LockerBoardSimulator = lockers["board"]
    board.answers_unlock = False
    with a.client(LOCKER_TOKEN) as keypad:
        opened = keypad.post("/v1/lockers/codes", json={"code": code})
    assert opened.status_code == 200, opened.text
    assert opened.json()["confirmed_by"] == "status"
    assert board.unlock_count(DOOR) == 2  # the load, and one pulse for the customer


def test_ten_thousand_wrong_codes_at_the_keypad_open_nothing(
    chain: Chain, lockers: dict[str, Any]
) -> None:
    a, _b = start(chain, lockers)
    receive(a, "MUG-1", 5)
    wait_for("store-a's stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = place(chain, web_order("web-e2e-guess"))
    wait_for("store-a to accept", lambda: status_is(chain, order_id, "accepted"))
    code = pickup_code(chain, order_id)
    pick_pack_and_load(a, lockers, order_id)
    board: LockerBoardSimulator = lockers["board"]
    unlocks = board.total_unlocks
    answers: dict[int, int] = {}
    with httpx.Client(
        base_url=a.url, headers={"Authorization": f"Bearer {LOCKER_TOKEN}"}
    ) as keypad:
        for guess in range(10_000):
            r = keypad.post("/v1/lockers/codes", json={"code": f"{guess:08d}"})
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
        locked = keypad.post("/v1/lockers/codes", json={"code": code})
    assert board.total_unlocks == unlocks
    assert answers == {422: 4, 429: 9_996}
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "too many wrong codes" in locked.json()["detail"]

    def lockout_alert_at_hub() -> Any:
        assert chain.hub is not None
        return [x for x in chain.hub.get("/v1/alerts") if x["kind"] == "pickup_lockout"]

    (alert,) = wait_for("the lockout alert at HQ", lockout_alert_at_hub)
    assert alert["store_id"] == "store-a"
