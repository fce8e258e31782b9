"""The store's HTTP API as tills, kiosks and staff devices call it (hub unreachable)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import auth


def _receive(api: TestClient, quantity: int = 10) -> None:
    r = api.post(
        "/v1/receipts",
        headers=auth("staff"),
        json={"receipt_id": "r1", "lines": [{"sku": "MUG-1", "quantity": quantity}]},
    )
    assert r.status_code == 201, r.text


def test_a_till_sells_offline_and_a_retry_returns_the_first_answer(api: TestClient) -> None:
    _receive(api)
    sale = {"sale_id": "s-1", "lines": [{"sku": "MUG-1", "quantity": 3, "unit_price_cents": 450}]}
    first = api.post("/v1/sales", headers=auth("pos"), json=sale)
    retry = api.post("/v1/sales", headers=auth("pos"), json=sale)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["replayed"] is True
    assert retry.json()["event_seq"] == first.json()["event_seq"]
    stock = api.get("/v1/stock/MUG-1", headers=auth("kiosk")).json()
    assert stock["here"]["on_hand"] == 7


def test_a_kiosk_token_cannot_record_a_sale(api: TestClient) -> None:
    r = api.post(
        "/v1/sales",
        headers=auth("kiosk"),
        json={"sale_id": "s-1", "lines": [{"sku": "MUG-1", "quantity": 1}]},
    )
    assert r.status_code == 403
    assert "kiosk" in r.json()["detail"]


def test_no_token_or_a_wrong_token_is_refused(api: TestClient) -> None:
    assert api.get("/v1/stock/MUG-1").status_code == 401
    r = api.get("/v1/stock/MUG-1", headers={"Authorization": "Bearer not-a-real-token-at-all"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_malformed_sale_gets_422_with_the_reason(api: TestClient) -> None:
    r = api.post(
        "/v1/sales",
        headers=auth("pos"),
        json={"sale_id": "s-1", "lines": [{"sku": "MUG-1", "quantity": 0}]},
    )
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "lines", 0, "quantity"]
    r = api.post(
        "/v1/sales",
        headers=auth("pos"),
        content=b"{not json",
        params={},
    )
    assert r.status_code == 422
    r = api.post(
        "/v1/sales", headers=auth("pos"), json={"sale_id": "s-2", "lines": [{"quantity": 1}]}
    )
    assert r.status_code == 422
    assert "sku or a gtin" in r.text


def test_the_same_sale_id_with_different_lines_is_a_conflict(api: TestClient) -> None:
    _receive(api)
    api.post(
        "/v1/sales",
        headers=auth("pos"),
        json={
            "sale_id": "s-1",
            "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price_cents": 450}],
        },
    )
    r = api.post(
        "/v1/sales",
        headers=auth("pos"),
        json={
            "sale_id": "s-1",
            "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price_cents": 450}],
        },
    )
    assert r.status_code == 409
    assert "different lines" in r.json()["detail"]


def test_staff_see_the_unsent_backlog_while_the_hub_is_unreachable(api: TestClient) -> None:
    _receive(api)
    status = api.get("/v1/status", headers=auth("staff")).json()["uplink"]
    assert status["connected"] is False
    assert status["backlog"] == 1
    assert status["events_acked_upto"] == 0
    assert api.get("/v1/status", headers=auth("kiosk")).status_code == 403


def test_unknown_product_lookup_is_404_and_openapi_is_served(api: TestClient) -> None:
    assert api.get("/v1/stock/NOPE", headers=auth("kiosk")).status_code == 404
    spec = api.get("/openapi.json").json()
    assert "/v1/sales" in spec["paths"]
    assert "/v1/stock/{sku_or_gtin}" in spec["paths"]


def test_two_tills_with_the_same_sale_id_are_refused_not_merged(api: TestClient) -> None:
    """Receipt numbers colliding across tills must never drop the second sale silently."""
    sale = {"sale_id": "0001", "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price_cents": 450}]}
    assert api.post("/v1/sales", headers=auth("pos"), json=sale).status_code == 201
    other_till = api.post("/v1/sales", headers=auth("manager"), json=sale)
    assert other_till.status_code == 409
    assert "already used by pos-1" in other_till.json()["detail"]


def test_a_sale_time_without_utc_offset_or_out_of_range_is_a_422(api: TestClient) -> None:
    naive = {
        "sale_id": "s-n",
        "at": "2026-11-23T10:00:00",
        "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price_cents": 450}],
    }
    r = api.post("/v1/sales", headers=auth("pos"), json=naive)
    assert r.status_code == 422
    assert "timezone" in r.text
    huge = {
        "sale_id": "s-h",
        "lines": [{"sku": "MUG-1", "quantity": 100_000, "unit_price_cents": 10**11}],
    }
    r = api.post("/v1/sales", headers=auth("pos"), json=huge)
    assert r.status_code == 422
    assert "total_cents" in r.json()["detail"]
