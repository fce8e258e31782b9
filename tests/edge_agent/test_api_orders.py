"""The store's order and locker API: roles, answers and error shapes, through the real app with
a locker board simulator on a pty (no broker: the hub is unreachable, as it may be)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.locker.simulator import LockerBoardSimulator
from edge_agent import catalog, commands
from edge_agent.api.app import create_app
from edge_agent.movements import ReceiptRequest, receive_stock
from edge_agent.service import StoreAgent
from edge_agent.settings import AgentSettings
from storelink_contract.commands import OrderAllocation
from storelink_contract.common import utcnow
from storelink_contract.orders import OrderLineItem
from tests.edge_agent.conftest import TOKENS, auth
from tests.edge_agent.fulfilment_helpers import HUB_PUBLIC_KEY, MUG, TEE, open_pickup

LOCKER = {"Authorization": "Bearer locker-token-0123456789"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[TestClient, StoreAgent, LockerBoardSimulator]]:
    board = LockerBoardSimulator()
    devices = tmp_path / "devices.json"
    devices.write_text(
        json.dumps(
            [
                {
                    "kind": "locker_board",
                    "device_id": "bank-a",
                    "url": board.path,
                    "poll_interval_s": 0.1,
                    "compartments": {"1": "S", "2": "M"},
                }
            ]
        )
    )
    tokens = ",".join(f"{r}-1:{r}:{t}" for r, t in TOKENS.items())
    settings = AgentSettings(
        store_id="store-a",
        data_dir=tmp_path,
        broker_url="mqtt://127.0.0.1:9",
        devices_file=devices,
        bootstrap_tokens=f"{tokens},locker-1:locker:locker-token-0123456789",
    )
    agent = StoreAgent(settings)
    agent.start()
    now = utcnow()
    with agent.db.write() as conn:
        catalog.upsert(conn, [MUG, TEE], now)
        receive_stock(
            conn, ReceiptRequest(receipt_id="r", lines=[{"sku": "MUG-1", "quantity": 4}]), now
        )
    try:
        with TestClient(create_app(agent, manage_lifecycle=False)) as client:
            deadline = time.monotonic() + 10
            while not agent.devices.slots[0].connected:
                assert time.monotonic() < deadline, "the locker board never connected"
                time.sleep(0.05)
            yield client, agent, board
    finally:
        agent.stop()
        board.close()


def allocate(agent: StoreAgent, order_id: str, quantity: int = 1) -> dict[str, Any]:
    now = utcnow()
    command = OrderAllocation(
        at=now,
        order_id=order_id,
        allocation_id=f"{order_id}-1",
        method="locker_pickup",
        lines=(OrderLineItem(sku="MUG-1", quantity=quantity),),
        customer_name="Ada",
        respond_by=now + timedelta(minutes=1),
        seal_to=HUB_PUBLIC_KEY,
    )
    with agent.db.write() as conn:
        commands.apply_command(conn, command, now, agent.policy)
        payload = conn.execute(
            "SELECT payload FROM outbox WHERE type = 'order_accepted' ORDER BY seq DESC LIMIT 1"
        ).fetchone()[0]
    return open_pickup(json.loads(payload)).model_dump()


def test_pick_pack_and_load_through_the_api(
    store: tuple[TestClient, StoreAgent, LockerBoardSimulator],
) -> None:
    client, agent, board = store
    allocate(agent, "W4001")
    staff = auth("staff")
    assert [o["order_id"] for o in client.get("/v1/picklist", headers=staff).json()] == ["W4001"]
    wrong = client.post("/v1/orders/W4001/picks", headers=staff, json={"code": "0012345678905"})
    assert wrong.status_code == 409
    assert "is not on order W4001" in wrong.json()["detail"]
    assert (
        client.post("/v1/orders/W4001/pack", headers=staff, json={"parcel_size": "S"}).status_code
        == 409
    )
    right = client.post("/v1/orders/W4001/picks", headers=staff, json={"code": "4006381333931"})
    assert right.status_code == 200
    packed = client.post("/v1/orders/W4001/pack", headers=staff, json={"parcel_size": "S"}).json()
    assert packed["location"]["location_id"] == "bank-a-01"
    opened = client.post("/v1/lockers/codes", headers=LOCKER, json={"code": packed["load_code"]})
    assert opened.status_code == 200, opened.text
    assert opened.json()["purpose"] == "load"
    board.put_item(0)
    board.close_door(0)
    deadline = time.monotonic() + 10
    while client.get("/v1/orders/W4001", headers=staff).json()["status"] != "ready":
        assert time.monotonic() < deadline, "the board's door sensor never confirmed the load"
        time.sleep(0.05)
    lockers = {c["compartment_id"]: c for c in client.get("/v1/lockers", headers=staff).json()}
    assert lockers["bank-a-01"]["state"] == "occupied"
    assert lockers["bank-a-01"]["order_id"] == "W4001"
    assert lockers["bank-a-02"]["state"] == "free"


def test_roles_guard_the_order_and_locker_routes(
    store: tuple[TestClient, StoreAgent, LockerBoardSimulator],
) -> None:
    client, agent, _board = store
    allocate(agent, "W4002")
    assert client.get("/v1/picklist", headers=auth("kiosk")).status_code == 403
    assert (
        client.post("/v1/lockers/codes", headers=auth("pos"), json={"code": "12345678"}).status_code
        == 403
    )
    assert client.post("/v1/lockers/codes", json={"code": "12345678"}).status_code == 401
    r = client.post(
        "/v1/lockers/compartments/bank-a-01/open",
        headers=auth("staff"),
        json={"purpose": "maintenance"},
    )
    assert r.status_code == 403
    r = client.post("/v1/orders/W4002/pickup-code", headers=auth("staff"), json={})
    assert r.status_code == 403  # a new code is a manager's decision
    fresh = client.post("/v1/orders/W4002/pickup-code", headers=auth("manager"), json={})
    assert fresh.status_code == 200
    assert len(fresh.json()["code"]) == 8
    settle = "/v1/lockers/compartments/bank-a-01/settle"
    staff = client.post(settle, headers=auth("staff"), json={"parcel_inside": True})
    assert staff.status_code == 403  # what was behind the door is a manager's word
    nothing = client.post(settle, headers=auth("manager"), json={"parcel_inside": True})
    assert nothing.status_code == 409
    assert "no unconfirmed unlock" in nothing.json()["detail"]
    bad = client.post(settle, headers=auth("manager"), json={"parcel_inside": "maybe"})
    assert bad.status_code == 422


def test_wrong_codes_get_clear_answers_then_a_lockout_with_retry_after(
    store: tuple[TestClient, StoreAgent, LockerBoardSimulator],
) -> None:
    client, agent, board = store
    secrets = allocate(agent, "W4003")
    early = client.post("/v1/lockers/codes", headers=LOCKER, json={"code": secrets["code"]})
    assert early.status_code == 409
    assert "not ready yet" in early.json()["detail"]
    bad = client.post("/v1/lockers/codes", headers=LOCKER, json={"code": "12ab"})
    assert bad.status_code == 422  # not even 8 digits: a bad request, not a guess
    answers = [
        client.post("/v1/lockers/codes", headers=LOCKER, json={"code": f"{n:08d}"})
        for n in range(6)
    ]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 429, 429]
    assert answers[0].json() == {"detail": "that code is not valid", "error": "CodeRefused"}
    assert int(answers[-1].headers["retry-after"]) > 800
    limits = client.get("/v1/lockers/limits", headers=auth("staff")).json()
    assert limits[0]["scope"] == "device"
    assert limits[0]["key"] == "locker-1"
    assert limits[0]["refused"] == 1
    assert [a["kind"] for a in client.get("/v1/alerts", headers=auth("staff")).json()] == [
        "pickup_lockout"
    ]
    r = client.post(
        "/v1/lockers/limits/lift",
        headers=auth("manager"),
        json={"scope": "device", "key": "locker-1"},
    )
    assert r.status_code == 204
    assert (
        client.post("/v1/lockers/codes", headers=LOCKER, json={"code": "00000009"}).status_code
        == 422
    )
    assert board.total_unlocks == 0
