"""The HQ dashboard's API: sign-in and roles, the summary it draws, and replaying a quarantined
event once its cause is fixed. Run on SQLite and PostgreSQL (the ``hub`` fixture); the pages
themselves are driven in a real browser in ``tests/e2e/test_pages.py``."""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_hub import throttle, users
from cloud_hub.api import dashboard as dashboard_api
from cloud_hub.api.deps import SESSION_COOKIE
from cloud_hub.db import make_engine
from cloud_hub.main import main as hub_main
from tests.cloud_hub.hub_helpers import sale
from tests.cloud_hub.order_helpers import (
    HQ_AUTH,
    ScriptedStore,
    hub_service,
    web_order,
)

OPERATOR = ("olga", "operator-pass-1")
VIEWER = ("viktor", "viewer-pass-22")


@pytest.fixture
def people(hub: TestClient) -> TestClient:
    """The hub with one operator and one viewer."""
    with hub_service(hub).engine.begin() as conn:
        users.add_user(conn, OPERATOR[0], "operator", OPERATOR[1], datetime.now(UTC))
        users.add_user(conn, VIEWER[0], "viewer", VIEWER[1], datetime.now(UTC))
    return hub


def sign_in(client: TestClient, who: tuple[str, str]) -> str:
    """Sign in on ``client`` (its cookie jar keeps the session); returns the CSRF token."""
    r = client.post("/v1/session", json={"username": who[0], "password": who[1]})
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf_token"]
    return token


def test_sign_in_sets_a_session_cookie_scripts_cannot_read(people: TestClient) -> None:
    r = people.post("/v1/session", json={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "operator"
    cookie = r.headers["set-cookie"].lower()
    assert f"{SESSION_COOKIE}=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert people.get("/v1/session").json()["username"] == OPERATOR[0]
    assert people.get("/v1/dashboard/summary").status_code == 200

    assert people.delete("/v1/session").status_code == 204
    assert people.get("/v1/dashboard/summary").status_code == 401


def test_nothing_of_the_dashboard_is_readable_without_signing_in(people: TestClient) -> None:
    paths = (
        "/v1/dashboard/summary",
        "/v1/dashboard/events",
        "/v1/dashboard/returns/s-a/ret-1",
        "/v1/stores",
        "/v1/quarantine",
        "/v1/alerts",
        "/v1/orders",
        "/v1/session",
    )
    for path in paths:
        assert people.get(path).status_code == 401, path
    people.cookies.set(SESSION_COOKIE, "a-made-up-session-token")
    for path in paths:
        assert people.get(path).status_code == 401, path
    # the page itself sends the browser to sign in, and shows nothing else
    page = people.get("/dashboard", follow_redirects=False)
    assert page.status_code in (302, 303, 307)
    assert page.headers["location"].startswith("/login")


def test_wrong_passwords_are_refused_and_then_lock_the_account(people: TestClient) -> None:
    for _ in range(users.WRONG_PASSWORDS_ALLOWED):
        r = people.post("/v1/session", json={"username": OPERATOR[0], "password": "guess-guess"})
        assert r.status_code == 401
        assert r.json()["detail"] == users.REFUSED
    right = {"username": OPERATOR[0], "password": OPERATOR[1]}
    locked = people.post("/v1/session", json=right)
    assert locked.status_code == 401  # the right password, but locked
    assert locked.json()["detail"] == users.REFUSED
    assert SESSION_COOKIE not in people.cookies

    later = datetime.now(UTC) + users.LOCKOUT + timedelta(seconds=1)
    _, who = users.sign_in(hub_service(people).engine, *OPERATOR, later, timedelta(hours=1))
    assert who.role == "operator"
    unknown = people.post("/v1/session", json={"username": "nobody", "password": "whatever1"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == users.REFUSED  # says nothing about which names exist


def test_one_address_guessing_across_usernames_is_stopped(people: TestClient) -> None:
    for n in range(throttle.FAILURES_ALLOWED):
        r = people.post("/v1/session", json={"username": f"user-{n}", "password": "Summer2026!"})
        assert r.status_code == 401
    right = people.post("/v1/session", json={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert right.status_code == 429  # refused before any password is checked
    assert "too many failed sign-ins from this address" in right.json()["detail"]
    assert 1 <= int(right.headers["Retry-After"]) <= throttle.WINDOW.total_seconds()
    assert SESSION_COOKIE not in people.cookies


def test_the_address_throttle_forgets_failures_after_its_window() -> None:
    gate = throttle.SignInThrottle(failures_allowed=3, window=timedelta(minutes=10))
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for minute in range(3):
        assert gate.retry_after("10.0.0.7", start + timedelta(minutes=minute)) is None
        gate.failed("10.0.0.7", start + timedelta(minutes=minute))
    assert gate.retry_after("10.0.0.7", start + timedelta(minutes=3)) == 7 * 60
    assert gate.retry_after("10.0.0.8", start + timedelta(minutes=3)) is None  # others may try
    assert gate.retry_after("10.0.0.7", start + timedelta(minutes=10, seconds=1)) is None


def test_parallel_wrong_guesses_all_count(people: TestClient) -> None:
    engine = hub_service(people).engine
    now = datetime.now(UTC)

    def guess(_: int) -> bool:
        try:
            users.sign_in(engine, OPERATOR[0], "parallel-guess", now, timedelta(hours=1))
        except users.SignInRefused:
            return False
        return True

    with ThreadPoolExecutor(max_workers=users.WRONG_PASSWORDS_ALLOWED) as pool:
        assert not any(pool.map(guess, range(users.WRONG_PASSWORDS_ALLOWED)))
    with pytest.raises(users.SignInRefused):  # five at once lock the account like five in a row
        users.sign_in(engine, *OPERATOR, now, timedelta(hours=1))


def test_a_password_reset_or_a_new_sign_in_ends_the_earlier_sessions(people: TestClient) -> None:
    sign_in(people, OPERATOR)
    first = people.cookies[SESSION_COOKIE]
    sign_in(people, OPERATOR)  # the same browser again
    second = people.cookies[SESSION_COOKIE]
    assert first != second
    with hub_service(people).engine.connect() as conn:
        assert users.session(conn, first, datetime.now(UTC)) is None
        assert users.session(conn, second, datetime.now(UTC)) is not None
    with hub_service(people).engine.begin() as conn:
        users.add_user(conn, OPERATOR[0], "operator", "a-brand-new-password", datetime.now(UTC))
    assert people.get("/v1/dashboard/summary").status_code == 401


def test_a_viewer_reads_everything_and_changes_nothing(people: TestClient) -> None:
    sign_in(people, VIEWER)
    assert people.get("/v1/dashboard/summary").status_code == 200
    assert people.get("/v1/quarantine").status_code == 200
    refused = people.post("/v1/quarantine/1/replay")
    assert refused.status_code == 403
    assert "viewer" in refused.json()["detail"]
    assert people.post("/v1/orders", json=web_order()).status_code == 403


def test_an_operator_cookie_acts_only_with_its_csrf_token(people: TestClient) -> None:
    csrf = sign_in(people, OPERATOR)
    forged = people.post("/v1/quarantine/1/replay")  # what a cross-site form could send
    assert forged.status_code == 403
    assert "X-CSRF-Token" in forged.json()["detail"]
    wrong = people.post("/v1/quarantine/1/replay", headers={"X-CSRF-Token": "not-it"})
    assert wrong.status_code == 403
    real = people.post("/v1/quarantine/1/replay", headers={"X-CSRF-Token": csrf})
    assert real.status_code == 404  # allowed to act; there is simply no entry 1
    # a script with the API token needs no CSRF token: no browser sends it on its own
    assert people.post("/v1/quarantine/1/replay", headers=HQ_AUTH).status_code == 404


def kiosk_order(sku: str) -> dict[str, object]:
    request = web_order("kiosk-77", method="store_pickup", store_id="s-a")
    request["lines"] = [{"sku": sku, "quantity": 1}]
    request["tenders"] = [
        {"kind": "card", "amount_cents": 990, "processor_token": "tok_visa_1", "last4": "1111"}
    ]
    return {
        "type": "kiosk_order_requested",
        "at": datetime.now(UTC).isoformat(),
        "request": {**request, "lines": [{"sku": sku, "quantity": 1, "unit_price_cents": 990}]},
    }


def test_a_set_aside_event_is_replayed_once_its_cause_is_fixed(hub: TestClient) -> None:
    """A kiosk took an order offline for a product HQ had not listed yet: the hub sets it
    aside; once the product is in the catalog an operator replays it and the order is placed."""
    store = ScriptedStore(hub_service(hub), "s-a")
    reaction = store.send(kiosk_order("NEW-9"))
    assert reaction.quarantined is None  # the stream moved on; only the item is set aside
    [entry] = hub.get("/v1/quarantine", headers=HQ_AUTH).json()
    assert entry["seq"] == store.seq
    assert "not in the catalog: NEW-9" in entry["reason"]

    still = hub.post(f"/v1/quarantine/{entry['id']}/replay", headers=HQ_AUTH)
    assert still.status_code == 422
    assert "not in the catalog" in still.json()["detail"]
    summary = hub.get("/v1/dashboard/summary", headers=HQ_AUTH).json()
    assert summary["quarantined"] == 1

    product = {"sku": "NEW-9", "name": "Enamel jug", "price_cents": 990}
    assert hub.put("/v1/catalog", headers=HQ_AUTH, json=[product]).status_code == 200
    done = hub.post(f"/v1/quarantine/{entry['id']}/replay", headers=HQ_AUTH)
    assert done.status_code == 200, done.text
    assert done.json()["replayed_at"] is not None
    orders = hub.get("/v1/orders", headers=HQ_AUTH).json()
    assert [o["client_order_id"] for o in orders] == ["kiosk-77"]

    again = hub.post(f"/v1/quarantine/{entry['id']}/replay", headers=HQ_AUTH)
    assert again.status_code == 409  # replayed once, never twice
    assert len(hub.get("/v1/orders", headers=HQ_AUTH).json()) == 1
    assert hub.get("/v1/dashboard/summary", headers=HQ_AUTH).json()["quarantined"] == 0


def test_a_whole_message_set_aside_cannot_be_replayed(hub: TestClient) -> None:
    service = hub_service(hub)
    topic = "storelink/v1/stores/s-a/up/events"
    assert service.inbound.handle(topic, b'{"v": 1}', datetime.now(UTC)).quarantined
    [entry] = hub.get("/v1/quarantine", headers=HQ_AUTH).json()
    r = hub.post(f"/v1/quarantine/{entry['id']}/replay", headers=HQ_AUTH)
    assert r.status_code == 409
    assert "whole message" in r.json()["detail"]
    assert hub.post("/v1/quarantine/999999/replay", headers=HQ_AUTH).status_code == 404


def count(adjustment_id: str, counted: int, off: dict[str, int], at: datetime) -> dict[str, object]:
    return {
        "type": "stock_adjusted",
        "at": at.isoformat(),
        "adjustment_id": adjustment_id,
        "note": "RFID sweep",
        "counted_skus": counted,
        "counted_units": counted * 5,
        "count_method": "rfid",
        "deltas": [{"sku": s, "delta": d, "reason": "count"} for s, d in off.items()],
    }


def test_the_summary_shows_count_accuracy_stock_alerts_and_orders(hub: TestClient) -> None:
    service = hub_service(hub)
    now = datetime.now(UTC)
    a, b = ScriptedStore(service, "s-a"), ScriptedStore(service, "s-b")
    a.send(count("c-old", 10, {"MUG-1": -1, "TEE-2": 2}, now - timedelta(days=1)))
    a.send(count("c-new", 2, {"MUG-1": -2}, now))  # each store's latest count is shown
    b.send(count("c-b", 2, {}, now))
    b.send(sale("TEE-2", 7, now, "oversold"))  # 5 on hand, 7 sold: the books are wrong
    assert hub.post("/v1/orders", headers=HQ_AUTH, json=web_order()).status_code in (200, 201)

    summary = hub.get("/v1/dashboard/summary", headers=HQ_AUTH).json()
    accuracy = {c["store_id"]: c for c in summary["count_accuracy"]}
    assert accuracy["s-a"]["accuracy"] == 0.5
    assert accuracy["s-a"]["skus_off"] == 1
    assert accuracy["s-b"]["accuracy"] == 1.0
    assert [c["store_id"] for c in summary["count_accuracy"]] == ["s-a", "s-b"]  # worst first
    assert {(s["store_id"], s["sku"], s["on_hand"]) for s in summary["negative_stock"]} == {
        ("s-b", "TEE-2", -2)
    }
    # s-a's counts found three mugs missing (2 left of 5): low stock
    assert ("s-a", "MUG-1") in {(s["store_id"], s["sku"]) for s in summary["low_stock"]}
    assert summary["orders_by_status"] == {"allocated": {"locker_pickup": 1}}
    assert {s["store_id"] for s in summary["stores"]} >= {"s-a", "s-b", "s-c"}


def test_hq_users_are_managed_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    monkeypatch.setenv("STORELINK_HUB_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert hub_main(["user", "add", "--name", "ada", "--role", "viewer"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
    assert hub_main(["user", "add", "--name", "ada", "--role", "viewer"]) == 0

    engine = make_engine(url)
    try:
        _, who = users.sign_in(
            engine, "ada", "a-long-enough-password", datetime.now(UTC), timedelta(hours=1)
        )
        assert who.role == "viewer"
        assert hub_main(["user", "remove", "--name", "ada"]) == 0
        assert hub_main(["user", "remove", "--name", "ada"]) == 1  # gone, and says so
        with pytest.raises(users.SignInRefused):
            users.sign_in(
                engine, "ada", "a-long-enough-password", datetime.now(UTC), timedelta(hours=1)
            )
    finally:
        engine.dispose()


def test_no_change_is_open_to_a_viewer_or_to_a_cookie_without_its_csrf_token(
    people: TestClient,
) -> None:
    """Every state-changing route of the API, as its schema lists them, refuses a viewer and
    an operator's cookie without the CSRF token, before it even reads the body."""
    schema = people.get("/openapi.json", headers=HQ_AUTH).json()
    changes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, ops in schema["paths"].items()
        for method in ops
        if method in ("post", "put", "patch", "delete") and path != "/v1/session"
    ]
    assert len(changes) >= 10
    sign_in(people, VIEWER)
    for method, path in changes:
        r = people.request(method, path, json={})
        assert r.status_code == 403, f"{method} {path} answered a viewer {r.status_code}"
    sign_in(people, OPERATOR)
    for method, path in changes:
        r = people.request(method, path, json={})
        assert r.status_code == 403, f"{method} {path} took a cookie without the CSRF token"
        assert "X-CSRF-Token" in r.json()["detail"]


def test_quarantined_payment_references_are_not_shown(hub: TestClient) -> None:
    store = ScriptedStore(hub_service(hub), "s-a")
    bad = sale("MUG-1", 1, datetime.now(UTC), "pay-1")
    bad["tenders"] = [
        {"kind": "card", "amount_cents": 199, "processor_token": "tok_secret_77", "last4": "4242"}
    ]
    bad["total_cents"] = "many"  # invalid: the event is set aside
    store.send(bad)
    [entry] = hub.get("/v1/quarantine", headers=HQ_AUTH).json()
    assert "tok_secret_77" not in entry["payload"]
    assert '"processor_token":"[redacted]"' in entry["payload"]
    summary = hub.get("/v1/dashboard/summary", headers=HQ_AUTH).json()
    assert summary["quarantine"][0]["id"] == entry["id"]
    assert "payload" not in summary["quarantine"][0]  # the dashboard list carries none


def test_a_quarantined_lookup_by_card_token_does_not_show_the_token(hub: TestClient) -> None:
    lookup = {  # no deadline: the hub cannot answer it, and sets it aside
        "v": 1,
        "kind": "request",
        "id": "0000abce",
        "method": "purchase_lookup",
        "params": {"by": "card_token", "value": "tok_visa_4242"},
    }
    hub_service(hub).inbound.handle(
        "storelink/v1/stores/s-a/up/rpc", json.dumps(lookup).encode(), datetime.now(UTC)
    )
    [entry] = hub.get("/v1/quarantine", headers=HQ_AUTH).json()
    assert "tok_visa_4242" not in entry["payload"]
    assert '"value": "[redacted]"' in entry["payload"]


def test_the_api_docs_and_schema_need_a_sign_in_and_load_nothing_from_elsewhere(
    people: TestClient,
) -> None:
    assert people.get("/openapi.json").status_code == 401
    page = people.get("/docs", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/docs"
    sign_in(people, VIEWER)
    assert people.get("/openapi.json").json()["info"]["title"] == "StoreLink hub"
    docs = people.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert "https://" not in docs
    assert people.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_every_answer_carries_the_security_headers(people: TestClient) -> None:
    for path in ("/login", "/assets/dashboard.js", "/v1/dashboard/summary", "/healthz"):
        r = people.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    assert people.get("/v1/dashboard/summary").headers["cache-control"] == "no-store"
    assert "no-store" not in people.get("/assets/dashboard.js").headers.get("cache-control", "")


def test_the_product_picker_finds_by_sku_gtin_or_name(hub: TestClient) -> None:
    def found(q: str) -> list[str]:
        r = hub.get("/v1/catalog", params={"q": q}, headers=HQ_AUTH)
        return [p["sku"] for p in r.json()]

    assert found("mug") == ["MUG-1"]
    assert found("4006381") == ["MUG-1"]
    assert found("tee-") == ["TEE-2"]
    assert found("%") == []  # a wildcard is a character here


def test_a_live_stream_ends_with_its_session(
    people: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_api, "SESSION_CHECK_S", 0.2)
    sign_in(people, VIEWER)
    cookie = people.cookies[SESSION_COOKIE]
    with people.stream("GET", "/v1/dashboard/events") as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: summary"
        assert json.loads(next(lines).removeprefix("data: "))["currency"] == "EUR"
        with hub_service(people).engine.begin() as conn:
            users.sign_out(conn, cookie)  # signed out in another tab, or by an admin
        rest = list(lines)  # the stream ends by itself
        assert all(not line.startswith("data:") for line in rest[1:]), rest
    assert people.get("/v1/dashboard/events").status_code == 401
