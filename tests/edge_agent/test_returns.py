"""Returns at the till, against this store's sales and other channels' purchases, online and
offline. Real store databases and a real hub database; the hub is called in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud_hub import alerts as hub_alerts
from cloud_hub.db import table
from cloud_hub.returns import authority
from cloud_hub.returns.tables import PurchaseLine
from edge_agent.errors import HubUnreachable, IdempotencyConflict
from edge_agent.return_requests import (
    NeedsOverride,
    OverrideNotAllowed,
    ReturnRefused,
    ReturnRequest,
)
from edge_agent.returns import ReturnDesk
from tests.edge_agent.returns_helpers import (
    CARD,
    GIFT,
    MANAGER,
    NOW,
    TILL,
    TILL_2,
    InProcessHub,
    Store,
    open_hub,
    open_store,
)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[InProcessHub]:
    opened = open_hub(tmp_path)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def store_a(tmp_path: Path, hub: InProcessHub) -> Iterator[Store]:
    store = open_store(tmp_path, hub, "store-a")
    yield store
    store.db.close()


@pytest.fixture
def store_b(tmp_path: Path, hub: InProcessHub) -> Iterator[Store]:
    store = open_store(tmp_path, hub, "store-b")
    yield store
    store.db.close()


def ask(
    purchase_id: str | None,
    *lines: dict[str, object],
    return_id: str = "ret-1",
    override: str | None = None,
) -> ReturnRequest:
    return ReturnRequest.model_validate(
        {
            "return_id": return_id,
            "purchase_id": purchase_id,
            "lines": list(lines),
            "override": {"reason": override} if override else None,
        }
    )


def two_mugs(store: Store, sale_id: str = "till-1-0001") -> str:
    store.sell(
        sale_id, [{"sku": "MUG-1", "quantity": 2}], tenders=[CARD, GIFT], loyalty_id="LOY-42"
    )
    return f"sale:{store.store_id}:{sale_id}"


def test_an_own_sale_is_found_by_receipt_and_refunded_as_paid(
    hub: InProcessHub, store_a: Store
) -> None:
    sale = store_a.sell("till-1-0001", [{"sku": "MUG-1", "quantity": 2}], tenders=[CARD, GIFT])
    assert sale.receipt_code == "SLR1:store-a:till-1-0001"
    hub.sync(store_a)
    found = store_a.desk.lookup("receipt", sale.receipt_code)
    assert found.hub_reachable
    (purchase,) = found.purchases
    assert [(t.kind, t.last4) for t in purchase.tenders] == [("card", "4242"), ("gift_card", None)]
    result = store_a.desk.take_return(
        TILL, ask(purchase.purchase_id, {"line_no": 1, "quantity": 1}), NOW
    )
    assert result.origin == "authorized"  # the hub knows the sale: it decides, for every store
    assert [(r.kind, r.amount_cents, r.processor_token) for r in result.refunds] == [
        ("card", 300, "tok_visa_4242"),
        ("gift_card", 150, "gc_000123"),
    ]
    assert store_a.on_hand("MUG-1") == 9  # 10 - 2 sold + 1 back on the shelf
    again = store_a.desk.take_return(
        TILL, ask(purchase.purchase_id, {"line_no": 1, "quantity": 1}), NOW
    )
    assert again.replayed  # the same return id: the same answer, nothing twice
    assert store_a.on_hand("MUG-1") == 9
    with pytest.raises(ReturnRefused, match="at most 1 can come back"):
        store_a.desk.take_return(
            TILL, ask(purchase.purchase_id, {"line_no": 1, "quantity": 2}, return_id="ret-2"), NOW
        )


def test_an_own_sale_not_synced_yet_is_returned_against_the_store_database(
    hub: InProcessHub, store_a: Store
) -> None:
    purchase_id = two_mugs(store_a)
    result = store_a.desk.take_return(TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 2}), NOW)
    assert result.origin == "local"  # the hub has not heard of the sale: the store decides
    assert sum(r.amount_cents for r in result.refunds) == 900
    with pytest.raises(ReturnRefused, match="already returned"):
        store_a.desk.take_return(
            TILL, ask(purchase_id, {"line_no": 1, "quantity": 1}, return_id="ret-2"), NOW
        )
    hub.sync(store_a)  # the sale and its return reach the hub in order: all taken, no alert
    with hub.engine.connect() as conn:
        returned = conn.execute(select(table(PurchaseLine).c.returned)).scalar_one()
        assert returned == 2
        assert hub_alerts.listing(conn) == []


def test_two_tills_returning_the_last_unit_at_once_one_succeeds(
    hub: InProcessHub, store_a: Store
) -> None:
    store_a.sell("till-1-0002", [{"sku": "TEE-2", "quantity": 1}])
    hub.reachable = False  # offline: the store's own database must decide
    results: list[str] = []

    def till(device: object, return_id: str) -> None:
        try:
            store_a.desk.take_return(
                device,  # type: ignore[arg-type]
                ask("sale:store-a:till-1-0002", {"line_no": 1, "quantity": 1}, return_id=return_id),
                NOW,
            )
            results.append("refunded")
        except ReturnRefused as exc:
            results.append(str(exc))

    tills = [
        threading.Thread(target=till, args=(d, f"r-{n}")) for n, d in enumerate((TILL, TILL_2))
    ]
    for t in tills:
        t.start()
    for t in tills:
        t.join()
    assert sorted(results)[1] == "refunded"
    assert "already returned" in sorted(results)[0]
    assert store_a.on_hand("TEE-2") == 10


def test_another_stores_sale_is_taken_back_once_across_stores(
    hub: InProcessHub, store_a: Store, store_b: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    found = store_b.desk.lookup("loyalty", "LOY-42")
    assert [p.purchase_id for p in found.purchases] == [purchase_id]
    first = store_b.desk.take_return(TILL, ask(purchase_id, {"line_no": 1, "quantity": 2}), NOW)
    assert first.origin == "authorized"
    assert store_b.on_hand("MUG-1") == 12  # back on B's shelf, not A's
    assert store_a.on_hand("MUG-1") == 8
    with pytest.raises(ReturnRefused, match="already returned"):
        store_a.desk.take_return(
            TILL, ask(purchase_id, {"line_no": 1, "quantity": 1}, return_id="ret-a"), NOW
        )


def test_outside_the_window_a_manager_may_override_and_a_till_may_not(
    hub: InProcessHub, store_a: Store, store_b: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    hub.now = NOW + timedelta(days=40)  # the default window is 30 days
    late = NOW + timedelta(days=40)
    line = {"line_no": 1, "quantity": 1}
    with pytest.raises(NeedsOverride, match="30-day return window"):
        store_b.desk.take_return(TILL, ask(purchase_id, line), late)
    with pytest.raises(OverrideNotAllowed, match="a manager must"):
        store_b.desk.take_return(TILL, ask(purchase_id, line, override="receipt was lost"), late)
    result = store_b.desk.take_return(
        MANAGER, ask(purchase_id, line, override="faulty glaze"), late
    )
    assert result.origin == "authorized"
    audit = (
        store_b.db.read()
        .execute("SELECT kind, message FROM store_alert WHERE kind = 'return_override'")
        .fetchall()
    )
    assert len(audit) == 1
    assert "manager-1" in audit[0][1]
    assert "faulty glaze" in audit[0][1]


def test_offline_another_channels_purchase_gets_store_credit_within_the_limit(
    hub: InProcessHub, store_a: Store, store_b: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    hub.reachable = False
    result = store_b.desk.take_return(TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 1}), NOW)
    assert result.origin == "offline"
    assert [(r.kind, r.amount_cents) for r in result.refunds] == [("store_credit", 450)]
    assert "not verified" in result.notes[0]
    with pytest.raises(ReturnRefused, match="already returned here while the hub"):
        store_b.desk.take_return(
            TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 1}, return_id="ret-again"), NOW
        )
    big = ask("order:W0000000X", {"sku": "TEE-2", "quantity": 4}, return_id="ret-big")
    with pytest.raises(NeedsOverride, match=r"at most 50\.00 in store credit"):
        store_b.desk.take_return(TILL, big, NOW)
    hub.reachable = True
    hub.sync(store_b)  # verified on reconnection: the mug was still returnable, no alert
    with hub.engine.connect() as conn:
        assert hub_alerts.listing(conn) == []


def test_a_return_without_a_receipt_is_store_credit_within_the_category_limit(
    hub: InProcessHub, store_a: Store
) -> None:
    result = store_a.desk.take_return(TILL, ask(None, {"sku": "MUG-1", "quantity": 2}), NOW)
    assert result.origin == "receiptless"
    assert [(r.kind, r.amount_cents) for r in result.refunds] == [("store_credit", 900)]
    with pytest.raises(NeedsOverride, match="without a receipt"):
        store_a.desk.take_return(
            TILL, ask(None, {"sku": "TEE-2", "quantity": 2}, return_id="ret-2"), NOW
        )


def test_a_damaged_item_is_refunded_but_not_put_back_for_sale(
    hub: InProcessHub, store_a: Store
) -> None:
    purchase_id = two_mugs(store_a)
    result = store_a.desk.take_return(
        TILL, ask(purchase_id, {"line_no": 1, "quantity": 1, "condition": "damaged"}), NOW
    )
    assert result.lines[0].disposition == "damaged"
    assert store_a.on_hand("MUG-1") == 8  # not sellable: it stays off the shelf


def test_a_return_id_reused_for_another_return_is_refused(
    hub: InProcessHub, store_a: Store
) -> None:
    purchase_id = two_mugs(store_a)
    store_a.desk.take_return(TILL, ask(purchase_id, {"line_no": 1, "quantity": 1}), NOW)
    with pytest.raises(IdempotencyConflict):
        store_a.desk.take_return(TILL, ask(purchase_id, {"line_no": 1, "quantity": 2}), NOW)


def test_a_hub_answer_that_comes_too_late_refunds_once(
    hub: InProcessHub, store_a: Store, store_b: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    answering = hub.call("store-b")

    def late(method: str, params: object, timeout_s: float) -> dict[str, object]:
        if method == "return_authorize":
            answering(method, params, timeout_s)  # the hub takes the units...
            raise HubUnreachable("no answer within 3 s")  # ...but the till has given up
        return answering(method, params, timeout_s)

    slow_desk = ReturnDesk(store_b.db, "store-b", late, 3.0)  # type: ignore[arg-type]
    result = slow_desk.take_return(TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 1}), NOW)
    assert result.origin == "offline"  # the till took its offline answer: store credit
    hub.sync(store_b)  # the hub matches it to the authorization it gave: one return, no alert
    with hub.engine.begin() as conn:
        assert conn.execute(select(table(PurchaseLine).c.returned)).scalar_one() == 1
        assert hub_alerts.listing(conn) == []
        assert authority.lapse(conn, NOW + timedelta(days=1)) == 0


def test_items_named_by_sku_are_checked_at_the_hub_when_it_is_there(
    hub: InProcessHub, store_a: Store, store_b: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    first = store_b.desk.take_return(TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 2}), NOW)
    assert first.origin == "authorized"
    with pytest.raises(ReturnRefused, match="already returned"):
        store_b.desk.take_return(
            TILL, ask(purchase_id, {"sku": "MUG-1", "quantity": 1}, return_id="ret-2"), NOW
        )


def test_a_retry_racing_the_first_request_gets_its_answer(
    hub: InProcessHub, store_a: Store
) -> None:
    purchase_id = two_mugs(store_a)
    hub.sync(store_a)
    answering = hub.call("store-a")
    gate = threading.Barrier(2)

    def slow(method: str, params: object, timeout_s: float) -> dict[str, object]:
        if method == "return_authorize":
            gate.wait(timeout=5)  # both requests are at the hub at once
        return answering(method, params, timeout_s)

    desk = ReturnDesk(store_a.db, "store-a", slow, 3.0)  # type: ignore[arg-type]
    results = []

    def till() -> None:
        results.append(desk.take_return(TILL, ask(purchase_id, {"line_no": 1, "quantity": 1}), NOW))

    tills = [threading.Thread(target=till) for _ in range(2)]
    for t in tills:
        t.start()
    for t in tills:
        t.join()
    assert sorted(r.replayed for r in results) == [False, True]
    assert store_a.on_hand("MUG-1") == 9  # one mug back on the shelf, not two
