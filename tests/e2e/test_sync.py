"""The spine end to end: tills at one store, the hub, and the kiosks of every other store.

Real broker (Mosquitto with the per-store ACL when installed), real hub and agent processes,
real database files. Nothing is mocked.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.e2e.chain import KIOSK_TOKEN, TILL_TOKEN, Chain, Service, wait_for
from tests.e2e.conftest import CATALOG, SKUS

_ids = itertools.count(1)


def receive(store: Service, sku: str, quantity: int) -> None:
    with store.client() as c:
        r = c.post(
            "/v1/receipts",
            json={"receipt_id": f"rcv-{next(_ids)}", "lines": [{"sku": sku, "quantity": quantity}]},
        )
        assert r.status_code == 201, r.text


def sell(client: httpx.Client, sku: str, quantity: int = 1, sale_id: str | None = None) -> Any:
    r = client.post(
        "/v1/sales",
        json={
            "sale_id": sale_id or f"sale-{next(_ids)}",
            "lines": [{"sku": sku, "quantity": quantity}],
        },
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def catalog_arrived(store: Service) -> bool:
    with store.client(KIOSK_TOKEN) as c:
        return all(c.get(f"/v1/stock/{sku}").status_code == 200 for sku in SKUS)


def start_two_stores(chain: Chain, **settings: str) -> tuple[Service, Service]:
    chain.start_hub()
    a = chain.start_store("store-a", **settings)
    b = chain.start_store("store-b")
    chain.push_catalog(CATALOG)
    wait_for("the catalog to reach store-a", lambda: catalog_arrived(a))
    wait_for("the catalog to reach store-b", lambda: catalog_arrived(b))
    return a, b


def converged(chain: Chain, store_id: str) -> dict[str, int] | None:
    """The hub's view of a store equals the store's own figures (and is not empty)."""
    store_view = chain.store_on_hand(store_id, SKUS)
    return store_view if store_view and chain.hub_on_hand(store_id) == store_view else None


def test_a_sale_at_store_a_shows_at_store_bs_kiosk_with_its_age(chain_any_db: Chain) -> None:
    chain = chain_any_db
    a, b = start_two_stores(chain)
    receive(a, "MUG-1", 10)
    with a.client(TILL_TOKEN) as till:
        sell(till, "MUG-1", 3)

    def store_a_seen_from_b() -> dict[str, Any] | None:
        lookup = b.get("/v1/stock/4006381333931", KIOSK_TOKEN)  # scanned GTIN at B's kiosk
        peers = {p["store_id"]: p for p in lookup["other_stores"]}
        peer = peers.get("store-a")
        return peer if peer and peer["on_hand"] == 7 else None

    peer = wait_for("store-a's sale to reach store-b's kiosk", store_a_seen_from_b)
    assert peer["available"] == 7
    assert 0 <= peer["age_s"] < 60
    across = chain.hub.get("/v1/stock/MUG-1")  # type: ignore[union-attr]
    assert {row["store_id"]: row["on_hand"] for row in across["stores"]}["store-a"] == 7
    fleet = {s["store_id"]: s for s in chain.hub.get("/v1/stores")}  # type: ignore[union-attr]
    assert fleet["store-a"]["online"]
    assert fleet["store-b"]["online"]


def test_a_thousand_sales_while_the_broker_is_down_all_reach_the_hub(chain: Chain) -> None:
    a, _ = start_two_stores(chain)
    for sku in SKUS:
        receive(a, sku, 400)
    wait_for("the receipts to reach the hub", lambda: converged(chain, "store-a"))

    chain.broker.stop()
    with a.client(TILL_TOKEN) as till:
        for n in range(1000):
            sell(till, SKUS[n % len(SKUS)])
    assert chain.store_backlog("store-a") >= 1000
    chain.broker.start()

    expected = {sku: 400 - len(range(i, 1000, len(SKUS))) for i, sku in enumerate(SKUS)}
    assert chain.store_on_hand("store-a", SKUS) == expected
    wait_for("the hub to catch up with store-a", lambda: converged(chain, "store-a"), 60)
    assert chain.hub_on_hand("store-a") == expected
    wait_for("store-a's outbox to empty", lambda: chain.store_backlog("store-a") == 0)


def test_agent_killed_while_draining_a_backlog_loses_and_doubles_nothing(chain: Chain) -> None:
    # Small batches and a narrow window make the drain take many round trips to kill inside.
    a, _ = start_two_stores(chain, batch_size="5", max_in_flight="10")
    chain.hub.stop()  # type: ignore[union-attr]  # events pile up in store-a's outbox
    with a.client(TILL_TOKEN) as till:
        for sku in SKUS:
            receive(a, sku, 1000)
        for n in range(600):
            sell(till, SKUS[n % len(SKUS)])
    expected = chain.store_on_hand("store-a", SKUS)
    chain.hub.start()  # type: ignore[union-attr]

    def draining() -> bool:
        applied = chain.hub.get("/v1/stores/store-a")["events_applied_upto"]  # type: ignore[union-attr]
        return 0 < applied < 500

    wait_for("the hub to be part-way through store-a's backlog", draining)
    a.kill()
    a.start()
    wait_for("the hub to converge after the kill", lambda: converged(chain, "store-a"), 60)
    assert chain.hub_on_hand("store-a") == expected == chain.store_on_hand("store-a", SKUS)


def test_agent_killed_between_commit_and_publish_loses_nothing(chain: Chain) -> None:
    a, _ = start_two_stores(chain)
    receive(a, "TEE-2", 5)
    wait_for("the receipt to reach the hub", lambda: converged(chain, "store-a"))
    chain.broker.stop()
    with a.client(TILL_TOKEN) as till:
        sell(till, "TEE-2", 2, sale_id="committed-not-published")
    a.kill()  # the sale is committed in the outbox; it was never published
    chain.broker.start()
    a.start()
    state = wait_for("the killed sale to reach the hub", lambda: converged(chain, "store-a"), 60)
    assert state == {"TEE-2": 3}
    with a.client(TILL_TOKEN) as till:  # the till's retry after the crash is still one sale
        assert sell(till, "TEE-2", 2, sale_id="committed-not-published")["replayed"] is True
    assert chain.store_on_hand("store-a", ["TEE-2"]) == {"TEE-2": 3}


def test_hub_killed_mid_ingest_applies_everything_once(chain: Chain) -> None:
    a, _ = start_two_stores(chain, batch_size="20", max_in_flight="40")
    chain.hub.stop()  # type: ignore[union-attr]
    with a.client(TILL_TOKEN) as till:
        receive(a, "CAP-3", 5000)
        for _ in range(800):
            sell(till, "CAP-3")
    chain.hub.start()  # type: ignore[union-attr]
    wait_for(
        "the hub to start applying",
        lambda: chain.hub.get("/v1/stores/store-a")["events_applied_upto"] > 0,  # type: ignore[union-attr]
    )
    chain.hub.kill()  # type: ignore[union-attr]
    chain.hub.start()  # type: ignore[union-attr]
    assert wait_for("convergence", lambda: converged(chain, "store-a"), 60) == {"CAP-3": 4200}


@pytest.mark.parametrize("copies", [3])
def test_the_hub_applies_a_message_delivered_three_times_once(chain: Chain, copies: int) -> None:
    from tests.support.mqtt import MqttProbe

    chain.start_hub()
    user, password = chain.broker.credentials("store-c")
    event = (
        '{"type":"stock_received","at":"2026-11-23T10:00:00Z","receipt_id":"r-1",'
        '"deltas":[{"sku":"MUG-1","delta":12,"reason":"receipt"}]}'
    )
    batch = f'{{"v":1,"sender":"store-c","stream":"events","first_seq":1,"items":[{event}]}}'
    topic = "storelink/v1/stores/store-c/up/events"
    with MqttProbe(chain.broker, username=user, password=password).connected() as probe:
        for _ in range(copies):
            probe.publish(topic, batch.encode())
        wait_for("the batch to be applied", lambda: chain.hub_on_hand("store-c") == {"MUG-1": 12})
        probe.publish(topic, b'{"v":1,"sender":"store-c", "stream": "events", "first_seq": 2')
        probe.publish(topic, b"\xff\xfe not json at all")
        forged = batch.replace('"sender":"store-c"', '"sender":"store-b"').replace(
            '"first_seq":1', '"first_seq":2'
        )
        probe.publish(topic, forged.encode())
        later = batch.replace('"first_seq":1', '"first_seq":2').replace('"delta":12', '"delta":3')
        probe.publish(topic, later.encode())
        wait_for("the later batch to apply", lambda: chain.hub_on_hand("store-c") == {"MUG-1": 15})
    quarantine = chain.hub.get("/v1/quarantine")  # type: ignore[union-attr]
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "not JSON" in reasons
    assert "store-b" in reasons  # the payload claimed another store
    assert len(quarantine) == 3
    assert chain.hub_on_hand("store-c") == {"MUG-1": 15}
