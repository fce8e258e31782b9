"""Online orders at the hub, on SQLite and PostgreSQL: intake, routing, the store's answers,
notifications and refunds. Stores are scripted through the hub's real inbound path."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud_hub.db import Quarantine, StoreEvent, table
from cloud_hub.orders.tables import Notification
from tests.cloud_hub.order_helpers import (
    APP_AUTH,
    HQ_AUTH,
    WEB_AUTH,
    ScriptedStore,
    hub_service,
    notifications,
    web_order,
)


def place(
    hub: TestClient, body: dict[str, Any] | None = None, auth: dict[str, str] = WEB_AUTH
) -> Any:
    r = hub.post("/v1/orders", headers=auth, json=body or web_order())
    assert r.status_code in (200, 201), r.text
    return r.json()


def store(hub: TestClient, store_id: str) -> ScriptedStore:
    return ScriptedStore(hub_service(hub), store_id)


def test_an_order_goes_to_the_nearest_store_that_has_it(hub: TestClient) -> None:
    order = place(hub)
    assert order["status"] == "allocated"
    assert order["store_id"] == "s-a"  # 1 km away; s-b is 4 km, s-c 39 km
    assert order["total_cents"] == 900
    assert [t["last4"] for t in order["tenders"]] == ["4242", None]
    assert "tok_visa" not in json.dumps(order)  # tokens never leave the hub
    allocation = store(hub, "s-a").allocation()
    assert allocation["lines"] == [{"sku": "MUG-1", "quantity": 2, "name": "Stoneware mug"}]
    assert allocation["method"] == "locker_pickup"


def test_the_customers_chosen_store_wins_when_it_can_serve(hub: TestClient) -> None:
    order = place(hub, web_order(store_id="s-c"))
    assert order["store_id"] == "s-c"


def test_placing_is_idempotent_on_the_channels_order_id(hub: TestClient) -> None:
    first = hub.post("/v1/orders", headers=WEB_AUTH, json=web_order("web-7"))
    again = hub.post("/v1/orders", headers=WEB_AUTH, json=web_order("web-7"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["order_id"] == again.json()["order_id"]
    assert len(store(hub, "s-a").commands("order_allocation")) == 1  # allocated once
    changed = web_order(
        "web-7",
        lines=[{"sku": "MUG-1", "quantity": 1}],
        tenders=[{"kind": "gift_card", "amount_cents": 450, "processor_token": "gc_000123"}],
    )
    conflict = hub.post("/v1/orders", headers=WEB_AUTH, json=changed)
    assert conflict.status_code == 409
    assert "different contents" in conflict.json()["detail"]
    other_channel = hub.post("/v1/orders", headers=APP_AUTH, json=web_order("web-7"))
    assert other_channel.status_code == 201  # ids are per channel


def test_bad_orders_are_refused_with_the_reason(hub: TestClient) -> None:
    pan = web_order(
        tenders=[
            {
                "kind": "card",
                "amount_cents": 900,
                "processor_token": "4111111111111111",
                "last4": "1111",
            }
        ]
    )
    r = hub.post("/v1/orders", headers=WEB_AUTH, json=pan)
    assert r.status_code == 422
    assert "looks like a card number" in r.text
    short = web_order(
        tenders=[{"kind": "gift_card", "amount_cents": 100, "processor_token": "gc_0001234"}]
    )
    r = hub.post("/v1/orders", headers=WEB_AUTH, json=short)
    assert r.status_code == 422
    assert "add up to 100 cents but the order comes to 900" in r.json()["detail"]
    unknown = web_order(lines=[{"sku": "NOPE-9", "quantity": 1}])
    assert (
        "not in the catalog: NOPE-9" in hub.post("/v1/orders", headers=WEB_AUTH, json=unknown).text
    )
    assert hub.post("/v1/orders", json=web_order()).status_code == 401
    assert hub.post("/v1/orders", headers=WEB_AUTH, json={"method": "drone"}).status_code == 422


HOME = {"line1": "Chausseestr. 10", "postcode": "10115", "city": "Berlin", "country": "DE"}


def test_a_home_delivery_needs_an_address_and_the_store_gets_it(hub: TestClient) -> None:
    nowhere = web_order("web-home", method="ship_from_store")
    r = hub.post("/v1/orders", headers=WEB_AUTH, json=nowhere)
    assert r.status_code == 422
    assert "needs customer.address" in r.text
    body = web_order("web-home", method="ship_from_store")
    body["customer"] = {**body["customer"], "address": HOME}
    order = place(hub, body)
    allocation = store(hub, order["store_id"]).allocation()
    assert allocation["method"] == "ship_from_store"
    assert allocation["ship_address"] == {**HOME, "line2": None}
    bad = web_order("web-home-2", method="ship_from_store")
    bad["customer"] = {**bad["customer"], "address": {**HOME, "country": "Germany"}}
    assert hub.post("/v1/orders", headers=WEB_AUTH, json=bad).status_code == 422


def test_a_channel_sees_only_its_own_orders(hub: TestClient) -> None:
    order = place(hub)
    assert hub.get(f"/v1/orders/{order['order_id']}", headers=APP_AUTH).status_code == 404
    assert hub.get(f"/v1/orders/{order['order_id']}", headers=HQ_AUTH).status_code == 200
    assert hub.get("/v1/orders", headers=APP_AUTH).json() == []
    assert [o["order_id"] for o in hub.get("/v1/orders", headers=WEB_AUTH).json()] == [
        order["order_id"]
    ]


def test_a_rejection_reroutes_and_no_store_left_is_reported(hub: TestClient, tmp_path: Any) -> None:
    order = place(hub)
    for store_id in ("s-a", "s-b", "s-c"):
        scripted = store(hub, store_id)
        scripted.answer("order_rejected", scripted.allocation(), reason="no mugs on the shelf")
    final = hub.get(f"/v1/orders/{order['order_id']}", headers=WEB_AUTH).json()
    assert final["status"] == "unfulfillable"
    assert [a["store_id"] for a in final["allocations"]] == ["s-a", "s-b", "s-c"]
    assert {a["status"] for a in final["allocations"]} == {"rejected"}
    assert sum(r["amount_cents"] for r in final["refunds"]) == 900
    alerts = hub.get("/v1/alerts", headers=HQ_AUTH).json()
    assert [a["kind"] for a in alerts] == ["order_unfulfillable"]
    assert hub_service(hub).send_notifications() == 1
    assert [n["kind"] for n in notifications(tmp_path / "notifications.jsonl")] == ["unfulfillable"]


def test_a_store_that_does_not_answer_loses_the_order(hub: TestClient) -> None:
    order = place(hub)
    service = hub_service(hub)
    first = store(hub, "s-a").allocation()
    with service.engine.begin() as conn:  # the deadline passes
        conn.exec_driver_sql(
            "UPDATE order_allocation SET respond_by = created_at WHERE allocation_id = "
            + ("?" if conn.dialect.name == "sqlite" else "%s"),
            (first["allocation_id"],),
        )
    assert service.sweep_allocations() == [order["order_id"]]
    after = hub.get(f"/v1/orders/{order['order_id']}", headers=WEB_AUTH).json()
    assert after["store_id"] == "s-b"
    (cancel,) = store(hub, "s-a").commands("order_cancel")
    assert cancel["allocation_id"] == first["allocation_id"]
    # s-a wakes up and accepts anyway: too late, nothing changes
    store(hub, "s-a").accept(first)
    late = hub.get(f"/v1/orders/{order['order_id']}", headers=WEB_AUTH).json()
    assert late["status"] == "allocated"
    assert late["store_id"] == "s-b"
    assert "late acceptance" in late["timeline"][-1]["detail"]


def test_the_whole_way_to_collection_with_one_notification_each(
    hub: TestClient, tmp_path: Any
) -> None:
    order = place(hub)
    order_id = order["order_id"]
    s_a = store(hub, "s-a")
    allocation = s_a.allocation()
    s_a.accept(allocation, code="87654321")
    s_a.accept(allocation, code="87654321")  # a resend with a new sequence is applied again...
    service = hub_service(hub)
    assert service.send_notifications() == 1  # ...but the customer hears once
    s_a.answer("order_progressed", allocation, status="picking")
    s_a.answer("order_progressed", allocation, status="packed", parcel_size="M")
    s_a.answer(
        "order_ready",
        allocation,
        location={"kind": "locker", "location_id": "bank-a-03", "label": "bank-a door 3"},
        pickup_expires_at="2030-01-01T00:00:00+00:00",
    )
    s_a.answer(
        "order_collected",
        allocation,
        via="locker",
        device_id="locker-1",
        deltas=[{"sku": "MUG-1", "delta": -2, "reason": "fulfilment"}],
    )
    assert service.send_notifications() == 1  # ready
    final = hub.get(f"/v1/orders/{order_id}", headers=WEB_AUTH).json()
    assert final["status"] == "collected"
    assert final["location_label"] == "bank-a door 3"
    steps = [s["status"] for s in final["timeline"]]
    assert steps == [
        "received",
        "allocated",
        "accepted",
        "ignored",
        "picking",
        "packed",
        "ready",
        "collected",
    ]
    sent = notifications(tmp_path / "notifications.jsonl")
    assert [n["kind"] for n in sent] == ["confirmed", "ready"]
    assert sent[0]["pickup"]["code"] == "87654321"  # the customer got the code...
    engine = service.engine
    with engine.connect() as conn:  # ...and the hub kept none of it
        stored = conn.execute(select(table(StoreEvent).c.payload)).scalars().all()
        secrets = conn.execute(select(table(Notification).c.secret)).scalars().all()
    assert not any("87654321" in p for p in stored)
    assert secrets == [None, None]
    across = hub.get("/v1/stock/MUG-1", headers=HQ_AUTH).json()
    assert {s["store_id"]: s["on_hand"] for s in across["stores"]}["s-a"] == 3


def test_an_expired_order_is_refunded_split_as_paid(hub: TestClient) -> None:
    order = place(hub)
    s_a = store(hub, "s-a")
    allocation = s_a.allocation()
    s_a.accept(allocation)
    s_a.answer("order_expired", allocation, reason="not collected within the pickup hold")
    s_a.answer("order_expired", allocation, reason="not collected within the pickup hold")
    final = hub.get(f"/v1/orders/{order['order_id']}", headers=WEB_AUTH).json()
    assert final["status"] == "expired"
    assert [(r["kind"], r["amount_cents"], r["last4"]) for r in final["refunds"]] == [
        ("card", 600, "4242"),
        ("gift_card", 300, None),
    ]
    assert "refunded 9.00 EUR to the way you paid" in _told(hub, order, "expired")


def _told(hub: TestClient, order: dict[str, Any], kind: str) -> str:
    """The body of the one ``kind`` message the customer was sent about ``order``."""
    sent = hub.get(f"/v1/orders/{order['order_id']}/notifications", headers=HQ_AUTH).json()
    (body,) = [n["body"] for n in sent if n["kind"] == kind]
    return str(body)


def test_an_event_for_another_stores_allocation_is_quarantined(hub: TestClient) -> None:
    order = place(hub)
    allocation = store(hub, "s-a").allocation()
    intruder = store(hub, "s-b")
    reaction = intruder.send(
        {
            "type": "stock_received",
            "at": "2026-11-23T12:00:00+00:00",
            "receipt_id": "x",
            "deltas": [{"sku": "TEE-2", "delta": 1, "reason": "receipt"}],
        },
    )
    assert reaction.events_ack is not None
    reaction = intruder.answer("order_collected", allocation, via="locker", device_id="x")
    assert reaction.events_ack == intruder.seq  # the stream moved on
    reasons = [q.reason for q in _quarantine(hub)]
    assert any("of s-a" in r for r in reasons)
    assert (
        hub.get(f"/v1/orders/{order['order_id']}", headers=HQ_AUTH).json()["status"] == "allocated"
    )


def test_a_cancelled_order_is_withdrawn_from_its_store_and_refunded(hub: TestClient) -> None:
    order = place(hub)
    s_a = store(hub, "s-a")
    s_a.accept(s_a.allocation())
    r = hub.post(f"/v1/orders/{order['order_id']}/cancel", headers=WEB_AUTH)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert sum(x["amount_cents"] for x in r.json()["refunds"]) == 900
    assert len(s_a.commands("order_cancel")) == 1
    assert "cancelled and 9.00 EUR refunded" in _told(hub, order, "cancelled")
    again = hub.post(f"/v1/orders/{order['order_id']}/cancel", headers=WEB_AUTH)
    assert again.status_code == 409


def test_routing_respects_capacity_methods_and_method_safety_stock(hub: TestClient) -> None:
    put = hub.put
    put(
        "/v1/stores/s-a/profile",
        headers=HQ_AUTH,
        json={"lat": 52.52, "lon": 13.40, "methods": ["store_pickup"]},
    )
    put(
        "/v1/stores/s-b/fulfilment-safety-stock",
        headers=HQ_AUTH,
        json={"levels": [{"sku": "MUG-1", "method": "locker_pickup", "quantity": 4}]},
    )
    order = place(hub)  # s-a has no lockers, s-b keeps 4 of its 5 mugs back from lockers
    assert order["store_id"] == "s-c"
    put(
        "/v1/stores/s-c/profile",
        headers=HQ_AUTH,
        json={"lat": 52.88, "lon": 13.40, "order_capacity": 1},
    )
    second = place(hub, web_order("web-2"))
    assert second["status"] == "unfulfillable"  # s-c is full with the first order


def _quarantine(hub: TestClient) -> list[Any]:
    with hub_service(hub).engine.connect() as conn:
        return list(conn.execute(select(table(Quarantine))))


def test_a_collection_after_the_order_expired_is_believed_and_alerted(hub: TestClient) -> None:
    order = place(hub)
    s_a = store(hub, "s-a")
    allocation = s_a.allocation()
    s_a.accept(allocation)
    s_a.answer("order_expired", allocation, reason="not collected within the pickup hold")
    s_a.answer(
        "order_collected",
        allocation,
        via="locker",
        device_id="locker-1",
        deltas=[{"sku": "MUG-1", "delta": -2, "reason": "fulfilment"}],
    )
    final = hub.get(f"/v1/orders/{order['order_id']}", headers=HQ_AUTH).json()
    assert final["status"] == "collected"  # the parcel is gone: the store is believed
    assert sum(r["amount_cents"] for r in final["refunds"]) == 900  # and it was refunded...
    (alert,) = [a for a in hub.get("/v1/alerts", headers=HQ_AUTH).json()]
    assert alert["kind"] == "collected_after_cancel"  # ...so HQ is told
    assert "expired" in alert["message"]


def test_a_door_event_naming_another_stores_order_is_quarantined(hub: TestClient) -> None:
    order = place(hub)
    intruder = store(hub, "s-b")
    reaction = intruder.send(
        {
            "type": "locker_door_opened",
            "at": "2026-11-23T12:00:00+00:00",
            "compartment_id": "bank-b-01",
            "order_id": order["order_id"],
            "purpose": "pickup",
            "actor": "locker-1",
            "confirmed_by": "reply",
        }
    )
    assert reaction.events_ack == intruder.seq
    timeline = hub.get(f"/v1/orders/{order['order_id']}", headers=HQ_AUTH).json()["timeline"]
    assert "door_opened" not in [s["status"] for s in timeline]
    assert any("never gave it" in q.reason for q in _quarantine(hub))
