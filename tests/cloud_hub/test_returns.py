"""Returns at the hub, on SQLite and PostgreSQL: the purchase index, the authority over what is
still returnable (online authorizations, offline returns verified afterwards), lapsed
authorizations, and the stores' RPC. Sales and returns come in through the hub's real inbound
path, as a store's agent sends them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cloud_hub import quarantine, rpc
from cloud_hub.db import table
from cloud_hub.orders.rules import OrderRules
from cloud_hub.returns import authority, lookup, policy
from cloud_hub.returns.tables import PurchaseTender as TenderRow
from storelink_contract.returns import (
    CategoryPolicy,
    Purchase,
    PurchaseList,
    ReturnAuthorization,
    ReturnAuthorize,
    ReturnLineAsk,
    ReturnPolicy,
    sale_purchase_id,
)
from storelink_contract.rpc import Method, RpcRequest
from tests.cloud_hub.order_helpers import HQ_AUTH, WEB_AUTH, ScriptedStore, hub_service, web_order

RECEIPT = "SLR1:s-a:till-1-0001"
SALE_ID = "till-1-0001"
PURCHASE = sale_purchase_id("s-a", SALE_ID)
CARD = {"kind": "card", "amount_cents": 600, "processor_token": "tok_visa_4242", "last4": "4242"}
GIFT = {"kind": "gift_card", "amount_cents": 300, "processor_token": "gc_000123"}
MUG = 450


# -- helpers -----------------------------------------------------------------------------------


def pos_sale(
    at: datetime,
    sale_id: str = SALE_ID,
    mugs: int = 2,
    tenders: list[dict[str, Any]] | None = None,
    loyalty_id: str | None = "LOY-42",
) -> dict[str, Any]:
    """A till sale of ``mugs`` mugs; by default two, paid 600 by card and 300 by gift card."""
    return {
        "type": "sale_recorded",
        "at": at.isoformat(),
        "sale_id": sale_id,
        "terminal_id": "till-1",
        "lines": [{"sku": "MUG-1", "quantity": mugs, "unit_price_cents": MUG}],
        "total_cents": MUG * mugs,
        "loyalty_id": loyalty_id,
        "tenders": [CARD, GIFT] if tenders is None else tenders,
        "deltas": [{"sku": "MUG-1", "delta": -mugs, "reason": "sale"}],
    }


def return_event(
    return_id: str,
    purchase_id: str,
    at: datetime,
    *,
    origin: str,
    mugs: int = 1,
    authorization_id: str | None = None,
    line_no: int | None = None,
    override_by: str | None = None,
) -> dict[str, Any]:
    """A till's return of ``mugs`` mugs, refunded as store credit, put back on its shelf."""
    return {
        "type": "return_recorded",
        "at": at.isoformat(),
        "return_id": return_id,
        "terminal_id": "till-2",
        "purchase_id": purchase_id,
        "origin": origin,
        "authorization_id": authorization_id,
        "override_by": override_by,
        "lines": [
            {
                "sku": "MUG-1",
                "quantity": mugs,
                "condition": "unopened",
                "disposition": "sellable",
                "purchase_line_no": line_no,
                "refund_cents": MUG * mugs,
            }
        ],
        "refunds": [{"tender_no": None, "kind": "store_credit", "amount_cents": MUG * mugs}],
        "total_cents": MUG * mugs,
        "deltas": [{"sku": "MUG-1", "delta": mugs, "reason": "return"}],
    }


def send(hub: TestClient, store_id: str, *events: dict[str, Any]) -> None:
    store = ScriptedStore(hub_service(hub), store_id)
    reaction = store.send(*events)
    assert reaction.events_ack == store.seq, "the hub did not apply the events"


def engine_of(hub: TestClient) -> Engine:
    return hub_service(hub).engine


def ask(
    return_id: str,
    quantity: int = 1,
    purchase_id: str = PURCHASE,
    override_by: str | None = None,
    line_no: int = 1,
) -> ReturnAuthorize:
    return ReturnAuthorize(
        return_id=return_id,
        purchase_id=purchase_id,
        lines=(ReturnLineAsk(line_no=line_no, quantity=quantity),),
        override_by=override_by,
    )


def authorize(
    engine: Engine, store_id: str, request: ReturnAuthorize, at: datetime
) -> ReturnAuthorization:
    with engine.begin() as conn:
        return authority.authorize(conn, store_id, request, at)


def purchase(engine: Engine, purchase_id: str = PURCHASE) -> Purchase:
    with engine.connect() as conn:
        found = lookup.purchase(conn, purchase_id)
    assert found is not None
    return found


def returned(engine: Engine, purchase_id: str = PURCHASE) -> int:
    return purchase(engine, purchase_id).lines[0].returned


def refunds(auth: ReturnAuthorization) -> list[tuple[int | None, str, int, str | None]]:
    return [(r.tender_no, r.kind, r.amount_cents, r.processor_token) for r in auth.refunds]


def tenders_refunded(engine: Engine, purchase_id: str = PURCHASE) -> list[int]:
    t = table(TenderRow)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.refunded_cents).where(t.c.purchase_id == purchase_id).order_by(t.c.tender_no)
        )
        return [int(r) for r in rows.scalars()]


def alert_kinds(hub: TestClient) -> list[tuple[str, str | None]]:
    return [(a["kind"], a["store_id"]) for a in hub.get("/v1/alerts", headers=HQ_AUTH).json()]


# -- the index ---------------------------------------------------------------------------------


def test_a_sale_is_found_by_receipt_loyalty_id_and_card_token(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    with engine.connect() as conn:
        by_receipt = lookup.find(conn, "receipt", RECEIPT)
        by_loyalty = lookup.find(conn, "loyalty", "LOY-42")
        by_card = lookup.find(conn, "card_token", "tok_visa_4242")
        assert lookup.find(conn, "receipt", "SLR1:s-a:till-1-9999") == []
        assert lookup.find(conn, "card_token", "tok_visa_0000") == []
    assert by_receipt == by_loyalty == by_card
    (found,) = by_receipt
    assert found.purchase_id == PURCHASE
    assert (found.channel, found.store_id, found.sale_id) == ("pos", "s-a", SALE_ID)
    assert found.purchased_at == now
    assert [(x.sku, x.name, x.quantity, x.returned, x.unit_price_cents) for x in found.lines] == [
        ("MUG-1", "Stoneware mug", 2, 0, 450)
    ]
    assert [(t.tender_no, t.kind, t.amount_cents, t.last4) for t in found.tenders] == [
        (1, "card", 600, "4242"),
        (2, "gift_card", 300, None),
    ]
    shown = found.model_dump_json()
    assert "tok_visa_4242" not in shown
    assert "gc_000123" not in shown
    # HQ's view of the index shows the same, and no token either
    r = hub.get(
        "/v1/purchases",
        headers=HQ_AUTH,
        params={"by": "card_token", "value": "tok_visa_4242"},
    )
    assert r.status_code == 200
    assert [p["purchase_id"] for p in r.json()] == [PURCHASE]
    assert "tok_visa" not in r.text


# -- online authorizations ---------------------------------------------------------------------


def test_a_partial_return_is_refunded_as_paid_and_a_retry_takes_nothing_more(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    first = authorize(engine, "s-b", ask("ret-1"), now + timedelta(days=2))
    assert first.authorized, first.reason
    assert first.authorization_id == "s-b:ret-1"
    assert first.total_cents == 450
    assert refunds(first) == [
        (1, "card", 300, "tok_visa_4242"),
        (2, "gift_card", 150, "gc_000123"),
    ]
    assert [(x.sku, x.quantity, x.disposition) for x in first.lines] == [("MUG-1", 1, "sellable")]
    again = authorize(engine, "s-b", ask("ret-1"), now + timedelta(days=2, minutes=1))
    assert again == first
    assert returned(engine) == 1
    assert tenders_refunded(engine) == [300, 150]
    # the other mug: the rest of what each tender paid
    second = authorize(engine, "s-c", ask("ret-2"), now + timedelta(days=3))
    assert second.authorized, second.reason
    assert refunds(second) == [
        (1, "card", 300, "tok_visa_4242"),
        (2, "gift_card", 150, "gc_000123"),
    ]
    assert returned(engine) == 2
    assert tenders_refunded(engine) == [600, 300]


def test_more_than_is_left_is_refused_and_of_two_tills_at_once_one_gets_the_last_unit(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    assert authorize(engine, "s-a", ask("ret-1"), now).authorized
    too_many = authorize(engine, "s-b", ask("ret-2", quantity=2), now)
    assert not too_many.authorized
    assert "at most 1 can come back" in too_many.reason
    assert too_many.authorization_id is None
    assert returned(engine) == 1

    start = threading.Barrier(2)

    def till(store_id: str, return_id: str) -> ReturnAuthorization:
        start.wait(timeout=10)
        return authorize(engine, store_id, ask(return_id), now)

    with ThreadPoolExecutor(max_workers=2) as pool:
        racing = [pool.submit(till, "s-b", "ret-b"), pool.submit(till, "s-c", "ret-c")]
        answers = [f.result(timeout=60) for f in racing]
    assert sorted(a.authorized for a in answers) == [False, True]
    (refused,) = [a for a in answers if not a.authorized]
    assert "can come back" in refused.reason or "left to return" in refused.reason
    assert refused.refunds == ()
    assert returned(engine) == 2
    assert tenders_refunded(engine) == [600, 300]  # refunded once, not twice


@pytest.mark.parametrize("mugs", [1, 2])  # some of the units, or every one left
def test_a_retry_racing_the_first_request_gets_the_same_authorization(
    hub: TestClient, now: datetime, mugs: int
) -> None:
    """A till that timed out asks again while the first request is still being answered."""
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    start = threading.Barrier(2)

    def till() -> ReturnAuthorization:
        start.wait(timeout=10)
        return authorize(engine, "s-b", ask("ret-1", quantity=mugs), now)

    with ThreadPoolExecutor(max_workers=2) as pool:
        racing = [pool.submit(till), pool.submit(till)]
        first, again = [f.result(timeout=60) for f in racing]
    assert first.authorized, first.reason
    assert again == first
    assert returned(engine) == mugs
    assert tenders_refunded(engine) == [300 * mugs, 150 * mugs]


def test_outside_the_window_a_manager_must_override(hub: TestClient, now: datetime) -> None:
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    with engine.begin() as conn:
        policy.set_policy(conn, ReturnPolicy(categories=(CategoryPolicy(window_days=0),)), now)
    later = now + timedelta(days=1)
    refused = authorize(engine, "s-b", ask("ret-1"), later)
    assert not refused.authorized
    assert refused.needs_override
    assert "outside the 0-day return window" in refused.reason
    assert returned(engine) == 0
    overridden = authorize(engine, "s-b", ask("ret-1", override_by="mgr-7"), later)
    assert overridden.authorized, overridden.reason
    assert overridden.total_cents == 450
    assert returned(engine) == 1
    # a store that took one back offline, outside the window and with no manager: HQ is told
    send(hub, "s-c", return_event("off-1", PURCHASE, later, origin="offline"))
    (row,) = hub.get("/v1/returns", headers=HQ_AUTH, params={"flagged": True}).json()
    assert row["return_id"] == "off-1"
    assert "return window" in row["flagged"]
    assert alert_kinds(hub) == [("return_outside_policy", "s-c")]
    assert returned(engine) == 2


# -- returns the stores report -----------------------------------------------------------------


def test_an_offline_return_of_what_was_already_returned_is_recorded_and_alerted(
    hub: TestClient, now: datetime
) -> None:
    engine = engine_of(hub)
    other = sale_purchase_id("s-a", "till-1-0002")
    send(hub, "s-a", pos_sale(now), pos_sale(now, "till-1-0002", mugs=1, tenders=[]))
    # s-b takes both mugs of the first sale back online, and completes the return
    online = authorize(engine, "s-b", ask("ret-b", quantity=2), now)
    assert online.authorized, online.reason
    send(
        hub,
        "s-b",
        return_event(
            "ret-b",
            PURCHASE,
            now,
            origin="authorized",
            mugs=2,
            authorization_id=online.authorization_id,
            line_no=1,
        ),
    )
    assert alert_kinds(hub) == []
    # s-c, offline, takes one of the same mugs back again, and one of the second sale
    twice = return_event("off-1", PURCHASE, now, origin="offline")
    clean = return_event("off-2", other, now, origin="offline")
    send(hub, "s-c", twice, clean)

    listed = hub.get("/v1/returns", headers=HQ_AUTH).json()
    assert sorted((r["store_id"], r["return_id"], r["origin"]) for r in listed) == [
        ("s-b", "ret-b", "authorized"),
        ("s-c", "off-1", "offline"),
        ("s-c", "off-2", "offline"),
    ]
    by_id = {r["return_id"]: r for r in listed}
    assert by_id["off-2"]["flagged"] is None
    assert by_id["off-2"]["store_credit_cents"] == 450
    assert by_id["ret-b"]["flagged"] is None
    assert "returned twice" in by_id["off-1"]["flagged"]
    flagged = hub.get("/v1/returns", headers=HQ_AUTH, params={"flagged": True}).json()
    assert [r["return_id"] for r in flagged] == ["off-1"]

    alerts = hub.get("/v1/alerts", headers=HQ_AUTH).json()
    assert [(a["kind"], a["store_id"], a["severity"]) for a in alerts] == [
        ("return_returned_twice", "s-c", "critical")
    ]
    assert PURCHASE in alerts[0]["subject"]
    assert returned(engine) == 2  # never more than was bought
    assert returned(engine, other) == 1
    # every returned mug went back on the shelf of the store that took it
    stock = hub.get("/v1/stock/MUG-1", headers=HQ_AUTH).json()
    on_hand = {s["store_id"]: s["on_hand"] for s in stock["stores"]}
    assert (on_hand["s-a"], on_hand["s-b"], on_hand["s-c"]) == (2, 7, 7)


def test_an_authorization_never_completed_lapses_and_gives_its_units_back(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))
    engine = engine_of(hub)
    abandoned = authorize(engine, "s-b", ask("ret-1", quantity=2), now)
    assert abandoned.authorized, abandoned.reason
    assert not authorize(engine, "s-c", ask("ret-2"), now).authorized
    with engine.begin() as conn:
        assert authority.lapse(conn, now + timedelta(minutes=30)) == 0  # still in time
    assert returned(engine) == 2
    with engine.begin() as conn:
        assert authority.lapse(conn, now + timedelta(hours=2)) == 1
    assert returned(engine) == 0
    assert tenders_refunded(engine) == [0, 0]
    retry = authorize(engine, "s-b", ask("ret-1", quantity=2), now + timedelta(hours=2))
    assert not retry.authorized
    assert "lapsed" in retry.reason

    later = now + timedelta(hours=2)
    completed = authorize(engine, "s-c", ask("ret-2", quantity=2), later)
    assert completed.authorized, completed.reason
    assert refunds(completed) == [
        (1, "card", 600, "tok_visa_4242"),
        (2, "gift_card", 300, "gc_000123"),
    ]
    send(
        hub,
        "s-c",
        return_event(
            "ret-2",
            PURCHASE,
            later,
            origin="authorized",
            mugs=2,
            authorization_id=completed.authorization_id,
            line_no=1,
        ),
    )
    with engine.begin() as conn:
        assert authority.lapse(conn, later + timedelta(hours=5)) == 0
    assert returned(engine) == 2
    assert authorize(engine, "s-c", ask("ret-2", quantity=2), later).authorized  # same answer
    assert alert_kinds(hub) == []

    assert tenders_refunded(engine) == [0, 0]  # s-c's till gave store credit in the end
    # s-b's till did finish after all, and says so late: the mugs came back twice.
    late = return_event(
        "ret-1",
        PURCHASE,
        now,
        origin="authorized",
        mugs=2,
        authorization_id=abandoned.authorization_id,
        line_no=1,
    )
    late["refunds"] = [part.model_dump(mode="json") for part in abandoned.refunds]
    send(hub, "s-b", late)
    assert ("return_returned_twice", "s-b") in alert_kinds(hub)
    assert tenders_refunded(engine) == [0, 0]  # what it paid out is the alert's to settle


# -- over the stores' RPC ----------------------------------------------------------------------


def collect_mugs(store: ScriptedStore, allocation: Any, via: str, device_id: str) -> None:
    """The store hands the web order's two mugs over."""
    store.answer(
        "order_collected",
        allocation,
        via=via,
        device_id=device_id,
        deltas=[{"sku": "MUG-1", "delta": -2, "reason": "fulfilment"}],
    )


def request(method: Method, params: dict[str, Any], deadline: datetime, n: int) -> RpcRequest:
    return RpcRequest(id=f"{n:08x}", method=method, deadline=deadline, params=params)


def test_a_collected_web_order_is_looked_up_and_returned_over_rpc(hub: TestClient) -> None:
    r = hub.post("/v1/orders", headers=WEB_AUTH, json=web_order())
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    s_a = ScriptedStore(hub_service(hub), "s-a")
    allocation = s_a.allocation()
    s_a.accept(allocation)
    s_a.answer(
        "order_ready",
        allocation,
        location={"kind": "locker", "location_id": "bank-a-03", "label": "bank-a door 3"},
        pickup_expires_at="2030-01-01T00:00:00+00:00",
    )
    collect_mugs(s_a, allocation, "locker", "locker-1")
    engine = engine_of(hub)
    rules = OrderRules()
    now = datetime.now(UTC)
    soon = now + timedelta(seconds=5)

    found = rpc.answer(
        engine,
        "s-b",
        request("purchase_lookup", {"by": "order", "value": order_id}, soon, 1),
        now,
        rules,
    )
    assert found is not None
    assert found.ok, found.error
    assert found.id == f"{1:08x}"
    (web,) = PurchaseList.model_validate(found.result).purchases
    assert web.purchase_id == f"order:{order_id}"
    assert web.order_id == order_id
    assert web.loyalty_id == "LOY-42"
    assert [(x.sku, x.quantity, x.returned) for x in web.lines] == [("MUG-1", 2, 0)]
    assert [t.last4 for t in web.tenders] == ["4242", None]
    assert "tok_visa" not in found.model_dump_json()

    params = ask("rpc-1", purchase_id=web.purchase_id).model_dump(mode="json")
    granted = rpc.answer(engine, "s-b", request("return_authorize", params, soon, 2), now, rules)
    assert granted is not None
    assert granted.ok, granted.error
    auth = ReturnAuthorization.model_validate(granted.result)
    assert auth.authorized, auth.reason
    assert refunds(auth) == [(1, "card", 300, "tok_visa_4242"), (2, "gift_card", 150, "gc_000123")]
    assert auth.refunds[0].last4 == "4242"

    late = ask("rpc-2", purchase_id=web.purchase_id).model_dump(mode="json")
    past = now - timedelta(seconds=1)
    assert rpc.answer(engine, "s-b", request("return_authorize", late, past, 3), now, rules) is None
    assert returned(engine, web.purchase_id) == 1  # the late request took nothing

    bad = rpc.answer(
        engine,
        "s-b",
        request("purchase_lookup", {"by": "shoe_size", "value": "9"}, soon, 4),
        now,
        rules,
    )
    assert bad is not None
    assert not bad.ok
    assert bad.error


def test_an_order_refunded_on_expiry_and_handed_over_after_all_is_not_refunded_twice(
    hub: TestClient,
) -> None:
    r = hub.post("/v1/orders", headers=WEB_AUTH, json=web_order())
    order_id = r.json()["order_id"]
    s_a = ScriptedStore(hub_service(hub), "s-a")
    allocation = s_a.allocation()
    s_a.accept(allocation)
    s_a.answer("order_expired", allocation, reason="not collected within the pickup hold")
    # The customer got the parcel after all: the money went back already.
    collect_mugs(s_a, allocation, "counter", "till-1")
    engine = engine_of(hub)
    pid = f"order:{order_id}"
    auth = authorize(engine, "s-b", ask("ret-1", quantity=2, purchase_id=pid), datetime.now(UTC))
    assert auth.authorized, auth.reason  # the mugs may come back
    assert auth.refunds == ()  # but no money a second time
    assert auth.total_cents == 0
    assert "9.00 of it was refunded before" in auth.reason
    assert tenders_refunded(engine, pid) == [600, 300]


@pytest.mark.parametrize(
    ("field", "value"), [("purchase_line_no", 0), ("refund_cents", 10**20), ("total_cents", 10**20)]
)
def test_a_malformed_return_is_quarantined_and_the_stream_moves_on(
    hub: TestClient, now: datetime, field: str, value: int
) -> None:
    send(hub, "s-a", pos_sale(now))
    event = return_event("off-1", PURCHASE, now, origin="offline", line_no=1)
    if field == "total_cents":
        event["total_cents"] = value
    else:
        event["lines"][0][field] = value
    store = ScriptedStore(hub_service(hub), "s-b")
    reaction = store.send(event)
    assert reaction.events_ack == store.seq  # acknowledged: the store is not stuck resending
    with engine_of(hub).connect() as conn:
        (held,) = quarantine.listing(conn)
    assert field in held.reason
    assert returned(engine_of(hub)) == 0


def _two_line_sale(at: datetime, skus: tuple[str, str] = ("MUG-1", "TEE-2")) -> dict[str, Any]:
    prices = {"MUG-1": MUG, "TEE-2": 1500}
    return {
        "type": "sale_recorded",
        "at": at.isoformat(),
        "sale_id": "till-1-0009",
        "terminal_id": "till-1",
        "lines": [{"sku": s, "quantity": 1, "unit_price_cents": prices[s]} for s in skus],
        "total_cents": sum(prices[s] for s in skus),
        "tenders": [],
        "deltas": [{"sku": s, "delta": -1, "reason": "sale"} for s in skus],
    }


def _tee_line() -> dict[str, Any]:
    return {
        "sku": "TEE-2",
        "quantity": 1,
        "condition": "unopened",
        "disposition": "sellable",
        "purchase_line_no": None,
        "refund_cents": 1500,
    }


def _with_tee(event: dict[str, Any]) -> dict[str, Any]:
    event["lines"].append(_tee_line())
    event["refunds"] = [{"tender_no": None, "kind": "store_credit", "amount_cents": MUG + 1500}]
    event["total_cents"] = MUG + 1500
    return event


def _flags(hub: TestClient) -> list[str | None]:
    return [r["flagged"] for r in hub.get("/v1/returns", headers=HQ_AUTH).json()]


def test_an_offline_return_partly_returned_before_still_counts_its_other_lines(
    hub: TestClient, now: datetime
) -> None:
    engine = engine_of(hub)
    pid = sale_purchase_id("s-a", "till-1-0009")
    send(hub, "s-a", _two_line_sale(now))
    assert authorize(engine, "s-b", ask("ret-b", purchase_id=pid), now).authorized  # the mug
    send(hub, "s-c", _with_tee(return_event("off-1", pid, now, origin="offline")))
    assert ("return_returned_twice", "s-c") in alert_kinds(hub)  # the mug, again
    assert [x.returned for x in purchase(engine, pid).lines] == [1, 1]  # the tee counts
    tee = authorize(engine, "s-d", ask("ret-d", line_no=2, purchase_id=pid), now)
    assert not tee.authorized  # it came back at s-c already


def test_an_offline_return_of_a_sku_on_two_lines_takes_from_both(
    hub: TestClient, now: datetime
) -> None:
    pid = sale_purchase_id("s-a", "till-1-0009")
    send(hub, "s-a", _two_line_sale(now, ("MUG-1", "MUG-1")))
    send(hub, "s-c", return_event("off-1", pid, now, origin="offline", mugs=2))
    assert _flags(hub) == [None]  # two bought, two back: nothing wrong
    assert [x.returned for x in purchase(engine_of(hub), pid).lines] == [1, 1]


def test_an_offline_return_is_flagged_for_what_was_not_bought_or_paid_too_much(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))  # two mugs at 4.50, no tee
    send(hub, "s-b", _with_tee(return_event("off-1", PURCHASE, now, origin="offline")))
    overpaid = return_event("off-2", PURCHASE, now, origin="offline")
    overpaid["lines"][0]["refund_cents"] = 4900
    overpaid["refunds"][0]["amount_cents"] = 4900
    overpaid["total_cents"] = 4900
    send(hub, "s-c", overpaid)
    flags = {r["return_id"]: r["flagged"] for r in hub.get("/v1/returns", headers=HQ_AUTH).json()}
    assert "1 x TEE-2 is not on purchase" in (flags["off-1"] or "")
    assert "49.00 given back for lines bought for 4.50" in (flags["off-2"] or "")


def test_an_offline_return_that_arrives_before_its_sale_is_checked_when_the_sale_does(
    hub: TestClient, now: datetime
) -> None:
    """Both stores were offline: s-b took back s-a's two mugs, and synced first."""
    engine = engine_of(hub)
    send(hub, "s-b", return_event("off-1", PURCHASE, now, origin="offline", mugs=2))
    assert "no purchase" in (_flags(hub)[0] or "")
    send(hub, "s-a", pos_sale(now))
    assert returned(engine) == 2  # counted once the sale is in
    assert _flags(hub) == [None]  # and nothing is wrong with it after all
    again = authorize(engine, "s-c", ask("ret-c", quantity=2), now + timedelta(hours=1))
    assert not again.authorized  # the two mugs came back at s-b already
    send(hub, "s-d", return_event("off-2", PURCHASE, now, origin="offline"))
    assert ("return_returned_twice", "s-d") in alert_kinds(hub)


def test_a_till_that_returns_more_than_the_hub_authorized_is_flagged(
    hub: TestClient, now: datetime
) -> None:
    send(hub, "s-a", pos_sale(now))
    granted = authorize(engine_of(hub), "s-b", ask("ret-1"), now)  # one mug
    assert granted.authorized, granted.reason
    two = return_event(
        "ret-1",
        PURCHASE,
        now,
        origin="authorized",
        mugs=2,
        authorization_id=granted.authorization_id,
        line_no=1,
    )
    send(hub, "s-b", two)
    assert "the till returned 2 x MUG-1, the hub authorized 1 x MUG-1" in (_flags(hub)[0] or "")
    assert ("return_outside_policy", "s-b") in alert_kinds(hub)
