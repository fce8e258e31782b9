"""Returns of any channel's purchase at any store, and the kiosk's view across stores, end to
end: real agent and hub processes, a real broker, the hub on SQLite and on PostgreSQL.

A store "going offline" is its own network link failing (a TCP proxy in front of the broker
is cut), while the other stores and the hub carry on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.chain import (
    KIOSK_TOKEN,
    MANAGER_TOKEN,
    STAFF_TOKEN,
    TILL2_TOKEN,
    TILL_TOKEN,
    WEB_TOKEN,
    Chain,
    Service,
    wait_for,
)
from tests.e2e.test_sync import CATALOG, catalog_arrived, receive
from tests.support.proxy import TcpProxy

_ids = itertools.count(1)
CARD = {"kind": "card", "amount_cents": 900, "processor_token": "tok_visa_4242", "last4": "4242"}


@pytest.fixture
def proxy(chain_any_db: Chain) -> Iterator[TcpProxy]:
    link = TcpProxy(chain_any_db.broker.port)
    yield link
    link.close()


def start(chain: Chain, proxy: TcpProxy | None = None) -> tuple[Service, Service]:
    chain.start_hub(allocation_timeout_s="30")
    a = chain.start_store("store-a", broker_url=proxy.url if proxy else None)
    b = chain.start_store("store-b")
    chain.push_catalog(CATALOG)
    wait_for("the catalog at store-a", lambda: catalog_arrived(a))
    wait_for("the catalog at store-b", lambda: catalog_arrived(b))
    return a, b


def hub_post(chain: Chain, path: str, body: Any, token: str | None = None) -> httpx.Response:
    assert chain.hub is not None
    with chain.hub.client(token) as c:
        return c.post(path, json=body)


def collected_web_order(chain: Chain, store: Service) -> str:
    """Two mugs ordered on the web, paid by card, collected at ``store``'s counter."""
    r = hub_post(
        chain,
        "/v1/orders",
        {
            "client_order_id": f"web-ret-{next(_ids)}",
            "method": "store_pickup",
            "lines": [{"sku": "MUG-1", "quantity": 2}],
            "customer": {"name": "Ada Lovelace", "loyalty_id": "LOY-42"},
            "tenders": [CARD],
            "store_id": store.name,
        },
        WEB_TOKEN,
    )
    assert r.status_code == 201, r.text
    order_id = str(r.json()["order_id"])
    note = wait_for(
        "the order confirmation with its code",
        lambda: next((n for n in chain.notifications(order_id) if n["kind"] == "confirmed"), None),
    )
    with store.client(STAFF_TOKEN) as staff:
        picked = staff.post(f"/v1/orders/{order_id}/picks", json={"code": "MUG-1", "quantity": 2})
        assert picked.status_code == 200, picked.text
        assert (
            staff.post(f"/v1/orders/{order_id}/pack", json={"parcel_size": "S"}).status_code == 200
        )
        handed = staff.post("/v1/orders/handover", json={"code": note["pickup"]["code"]})
        assert handed.status_code == 200, handed.text
    assert chain.hub is not None
    wait_for(
        "the hub to index the collected order",
        lambda: chain.hub.get(f"/v1/purchases?by=order&value={order_id}"),  # type: ignore[union-attr]
    )
    return order_id


def take_return(store: Service, token: str, body: dict[str, Any]) -> httpx.Response:
    with store.client(token) as till:
        return till.post("/v1/returns", json=body)


def one_mug(purchase_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "return_id": f"ret-{next(_ids)}",
        "purchase_id": purchase_id,
        "lines": [{"line_no": 1, "quantity": 1}],
        **extra,
    }


def test_a_web_order_returned_at_one_store_and_refused_at_another(chain_any_db: Chain) -> None:
    chain = chain_any_db
    a, b = start(chain)
    receive(a, "MUG-1", 5)
    wait_for("store-a's stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = collected_web_order(chain, a)
    wait_for(
        "the pickup in the hub's stock view", lambda: chain.hub_on_hand("store-a") == {"MUG-1": 3}
    )

    with a.client(TILL_TOKEN) as till:
        found = till.get("/v1/returns/purchases", params={"by": "order", "value": order_id}).json()
    assert found["hub_reachable"]
    (purchase,) = found["purchases"]
    assert purchase["tenders"] == [
        {"tender_no": 1, "kind": "card", "amount_cents": 900, "last4": "4242"}
    ]
    r = take_return(
        a,
        TILL_TOKEN,
        {
            "return_id": "ret-web-1",
            "purchase_id": purchase["purchase_id"],
            "lines": [{"line_no": 1, "quantity": 2}],
        },
    )
    assert r.status_code == 201, r.text
    assert [(x["kind"], x["amount_cents"], x["processor_token"]) for x in r.json()["refunds"]] == [
        ("card", 900, "tok_visa_4242")  # back to the original card
    ]
    wait_for(
        "the sellable return back on store-a's shelf at the hub",
        lambda: chain.hub_on_hand("store-a") == {"MUG-1": 5},
    )

    again = take_return(b, TILL_TOKEN, one_mug(purchase["purchase_id"]))
    assert again.status_code == 422
    assert "already returned" in again.json()["detail"]


def test_two_tills_refunding_the_same_line_at_once_one_succeeds(chain: Chain) -> None:
    a, b = start(chain)
    receive(a, "MUG-1", 5)
    wait_for("stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = collected_web_order(chain, a)
    purchase_id = f"order:{order_id}"
    answers: list[int] = []
    body = {"purchase_id": purchase_id, "lines": [{"line_no": 1, "quantity": 2}]}

    def till(store: Service, token: str, return_id: str) -> None:
        answers.append(take_return(store, token, {**body, "return_id": return_id}).status_code)

    tills = [
        threading.Thread(target=till, args=(a, TILL_TOKEN, "race-1")),
        threading.Thread(target=till, args=(a, TILL2_TOKEN, "race-2")),
        threading.Thread(target=till, args=(b, TILL_TOKEN, "race-3")),
    ]
    for t in tills:
        t.start()
    for t in tills:
        t.join()
    assert sorted(answers) == [201, 422, 422]


def test_outside_the_window_only_a_manager_override_passes_and_is_audited(chain: Chain) -> None:
    a, b = start(chain)
    receive(a, "MUG-1", 5)
    wait_for("stock at the hub", lambda: chain.hub_on_hand("store-a").get("MUG-1") == 5)
    order_id = collected_web_order(chain, a)
    assert chain.hub is not None
    with chain.hub.client() as hq:
        policy = {"categories": [{"category": "*", "window_days": 0}]}
        assert hq.put("/v1/return-policy", json=policy).status_code == 200
    wait_for(
        "the policy at store-b",
        lambda: b.get("/v1/returns/policy", STAFF_TOKEN)["categories"][0]["window_days"] == 0,
    )

    late = take_return(b, TILL_TOKEN, one_mug(f"order:{order_id}"))
    assert late.status_code == 409
    assert "return window" in late.json()["detail"]
    till_override = take_return(
        b, TILL_TOKEN, one_mug(f"order:{order_id}", override={"reason": "I said so"})
    )
    assert till_override.status_code == 403
    managed = take_return(
        b, MANAGER_TOKEN, one_mug(f"order:{order_id}", override={"reason": "faulty glaze"})
    )
    assert managed.status_code == 201, managed.text
    assert any(x["kind"] == "return_override" for x in b.get("/v1/alerts", STAFF_TOKEN))

    def override_at_hq() -> Any:
        return [x for x in chain.hub.get("/v1/alerts") if x["kind"] == "return_override"]  # type: ignore[union-attr]

    (audit,) = wait_for("the override's audit entry at HQ", override_at_hq)
    assert "manager-1" in audit["message"]
    assert "faulty glaze" in audit["message"]


def test_offline_return_then_the_same_line_elsewhere_raises_an_alert(
    chain_any_db: Chain, proxy: TcpProxy
) -> None:
    chain = chain_any_db
    a, b = start(chain, proxy)
    receive(b, "MUG-1", 5)
    wait_for("stock at the hub", lambda: chain.hub_on_hand("store-b").get("MUG-1") == 5)
    order_id = collected_web_order(chain, b)

    proxy.cut()  # store-a's internet is down; store-b and the hub carry on
    wait_for(
        "store-a to be offline at the hub",
        lambda: not chain.hub.get("/v1/stores/store-a")["online"],
    )  # type: ignore[union-attr]
    offline = take_return(
        a,
        TILL_TOKEN,
        {
            "return_id": "off-1",
            "purchase_id": f"order:{order_id}",
            "lines": [{"sku": "MUG-1", "quantity": 1}],
        },
    )
    assert offline.status_code == 201, offline.text
    assert offline.json()["origin"] == "offline"
    assert [(x["kind"], x["amount_cents"]) for x in offline.json()["refunds"]] == [
        ("store_credit", 450)
    ]
    both = take_return(
        b,
        TILL_TOKEN,
        {
            "return_id": "on-1",
            "purchase_id": f"order:{order_id}",
            "lines": [{"line_no": 1, "quantity": 2}],
        },
    )
    assert both.status_code == 201, both.text  # the hub has not heard of store-a's return yet

    proxy.restore()

    def returned_twice() -> Any:
        return [x for x in chain.hub.get("/v1/alerts") if x["kind"] == "return_returned_twice"]  # type: ignore[union-attr]

    (alert,) = wait_for("the duplicate return to be flagged at HQ", returned_twice, 60)
    assert alert["store_id"] == "store-a"
    flagged = chain.hub.get("/v1/returns?flagged=true")  # type: ignore[union-attr]
    assert [r["return_id"] for r in flagged] == ["off-1"]


def test_the_kiosk_shows_nearby_stores_and_orders_from_another_store(chain: Chain) -> None:
    a, b = start(chain)
    assert chain.hub is not None
    with chain.hub.client() as hq:
        hq.put("/v1/stores/store-a/profile", json={"name": "Mitte", "lat": 52.52, "lon": 13.40})
        hq.put("/v1/stores/store-b/profile", json={"name": "Pankow", "lat": 52.57, "lon": 13.40})
    receive(b, "MUG-1", 1)  # the last mug in the fleet is at store-b; none at store-a

    def nearby() -> Any:
        (found,) = a.get("/v1/kiosk/search?q=mug", KIOSK_TOKEN)
        peers = found["other_stores"]
        return found if peers and peers[0]["available"] == 1 and peers[0]["distance_km"] else None

    found = wait_for("store-b's mug and distance at store-a's kiosk", nearby)
    assert found["here"]["available"] == 0
    peer = found["other_stores"][0]
    assert (peer["store_id"], peer["name"]) == ("store-b", "Pankow")
    assert 5.0 < peer["distance_km"] < 6.0
    assert peer["age_s"] >= 0
    assert found["online_available"] == 1

    with a.client(KIOSK_TOKEN) as kiosk:
        r = kiosk.post(
            "/v1/kiosk/orders",
            json={
                "client_order_id": "kiosk-1-0001",
                "method": "ship_to_store",
                "lines": [{"sku": "MUG-1", "quantity": 1}],
                "customer": {"name": "Grace Hopper", "email": "grace@example.com"},
                "tenders": [
                    {
                        "kind": "card",
                        "amount_cents": 450,
                        "processor_token": "tok_mc_5454",
                        "last4": "5454",
                    }
                ],
            },
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
        wait_for(
            "store-b to accept the endless-aisle order",
            lambda: kiosk.get("/v1/kiosk/orders/kiosk-1-0001").json()["status"] == "accepted",
        )
    assert b.get("/v1/stock/MUG-1", STAFF_TOKEN)["here"]["reserved"] == 1  # held at store-b

    with b.client(STAFF_TOKEN) as staff:  # store-b picks it and sends it over
        assert staff.post(f"/v1/orders/{order_id}/picks", json={"code": "MUG-1"}).status_code == 200
        assert (
            staff.post(f"/v1/orders/{order_id}/pack", json={"parcel_size": "S"}).status_code == 200
        )
        shipped = staff.post(
            f"/v1/orders/{order_id}/ship", json={"carrier": "van", "tracking": "V1"}
        )
        assert shipped.status_code == 200, shipped.text
    wait_for(
        "store-a to expect the parcel",
        lambda: a.get(f"/v1/orders/{order_id}", STAFF_TOKEN)["status"] == "incoming",
    )
    code = wait_for(
        "the customer's pickup code, issued by store-a",
        lambda: next(
            (n["pickup"]["code"] for n in chain.notifications(order_id) if n["pickup"]),
            None,
        ),
    )
    with a.client(STAFF_TOKEN) as staff:
        assert staff.post(f"/v1/orders/{order_id}/receive").status_code == 200
        handed = staff.post("/v1/orders/handover", json={"code": code})
        assert handed.status_code == 200, handed.text
    final = wait_for(
        "the hub to see it collected at store-a",
        lambda: (o := chain.hub.get(f"/v1/orders/{order_id}"))["status"] == "collected" and o,
    )  # type: ignore[union-attr]
    assert final["store_id"] == "store-a"
    assert wait_for("stock at the hub", lambda: chain.hub_on_hand("store-b") == {} or None)


def test_two_kiosks_racing_for_the_last_unit_one_wins(chain: Chain) -> None:
    a, _b = start(chain)
    receive(a, "TEE-2", 1)
    answers: list[int] = []

    def kiosk(cart_id: str) -> None:
        with a.client(KIOSK_TOKEN) as c:
            answers.append(
                c.post(f"/v1/kiosk/carts/{cart_id}/items", json={"code": "TEE-2"}).status_code
            )

    racers = [threading.Thread(target=kiosk, args=(f"cart-{n}",)) for n in range(2)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(answers) == [200, 409]
    here = a.get("/v1/stock/TEE-2", KIOSK_TOKEN)["here"]
    assert (here["on_hand"], here["reserved"], here["available"]) == (1, 1, 0)
