"""The HQ HTTP API, through the real app and a real SQLite file (no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cloud_hub.app import create_app
from cloud_hub.service import HubService
from cloud_hub.settings import DEV_API_TOKEN, DEV_SEAL_KEY, HubSettings
from storelink_contract.sealing import new_private_key
from tests.cloud_hub.hub_helpers import payload, received

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = HubSettings(database_url=f"sqlite:///{tmp_path}/hub.db", api_token=TOKEN)
    with TestClient(create_app(settings, with_link=False)) as c:
        yield c


def _service(client: TestClient) -> HubService:
    service = client.app.state.hub  # type: ignore[attr-defined]
    assert isinstance(service, HubService)
    return service


def _ingest(client: TestClient, store_id: str, first: int, items: list[dict]) -> None:  # type: ignore[type-arg]
    topic = f"storelink/v1/stores/{store_id}/up/events"
    reaction = _service(client).inbound.handle(
        topic, payload(store_id, first, items), datetime.now(UTC)
    )
    assert reaction.events_ack is not None


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "broker_connected": None}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_hq_routes_need_the_token(client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/v1/stores", "/v1/stock/A", "/v1/catalog", "/v1/quarantine"):
        r = client.get(path, headers=headers)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"


def test_bad_bodies_get_422_with_the_reason(client: TestClient) -> None:
    r = client.put("/v1/catalog", headers=AUTH, json={"products": [{"sku": "A"}]})
    assert r.status_code == 422
    assert "name" in r.text
    assert "price_cents" in r.text
    r = client.put("/v1/catalog", headers=AUTH, content=b"{not json")
    assert r.status_code == 422
    _ingest(client, "s1", 1, [received("A", 1, datetime.now(UTC))])
    r = client.put("/v1/stores/s1/safety-stock", headers=AUTH, json={"levels": [{"sku": "A"}]})
    assert r.status_code == 422
    assert client.get("/v1/stores/bad%20id", headers=AUTH).status_code == 422


def test_stock_fleet_and_commands(client: TestClient) -> None:
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    _ingest(client, "s1", 1, [received("A/1", 7, at), received("B", 1, at)])
    _ingest(client, "s2", 1, [received("A/1", 2, at)])

    r = client.put(
        "/v1/stores/s1/safety-stock", headers=AUTH, json={"levels": [{"sku": "A/1", "quantity": 3}]}
    )
    assert r.status_code == 200
    assert r.json() == {"command_type": "safety_stock_set", "seq_by_store": {"s1": 1}}

    sku = client.get("/v1/stock/A/1", headers=AUTH).json()
    assert sku["total_on_hand"] == 9
    by_store = {s["store_id"]: s for s in sku["stores"]}
    assert by_store["s1"]["available"] == 4
    assert by_store["s2"]["available"] == 2
    assert by_store["s1"]["as_of"].startswith("2025-03-01T12:00:00")

    view = client.get("/v1/stores/s1/stock", headers=AUTH).json()
    assert [(i["sku"], i["on_hand"]) for i in view["items"]] == [("A/1", 7), ("B", 1)]

    products = [{"sku": "A/1", "name": "Mug", "price_cents": 899}]
    r = client.put("/v1/catalog", headers=AUTH, json={"products": products, "store_ids": ["s2"]})
    assert r.json()["seq_by_store"] == {"s2": 1}
    r = client.put("/v1/catalog", headers=AUTH, json=products)  # a bare list goes to every store
    assert r.json()["seq_by_store"] == {"s1": 2, "s2": 2}
    assert client.get("/v1/catalog", headers=AUTH).json()[0]["name"] == "Mug"

    assert client.post("/v1/stores/s2/resync", headers=AUTH).status_code == 202
    assert client.post("/v1/stores/nope/resync", headers=AUTH).status_code == 404

    stores = client.get("/v1/stores", headers=AUTH).json()
    assert {s["store_id"]: s["commands_pending"] for s in stores} == {"s1": 2, "s2": 3}
    assert client.get("/v1/stores/s2", headers=AUTH).json()["events_applied_upto"] == 1
    assert client.get("/v1/quarantine", headers=AUTH).json() == []


def test_production_refuses_the_development_secrets() -> None:
    real = {"api_token": "s3cret", "seal_key": new_private_key(), "notifier": "acme.sms:Sender"}
    with pytest.raises(ValidationError, match="development default"):
        HubSettings(environment="production", **{**real, "api_token": DEV_API_TOKEN})
    with pytest.raises(ValidationError, match="development key"):
        HubSettings(environment="production", **{**real, "seal_key": DEV_SEAL_KEY})
    with pytest.raises(ValidationError, match="writes pickup codes to a file"):
        HubSettings(environment="production", **{**real, "notifier": "log"})
    with pytest.raises(ValidationError, match="X25519"):
        HubSettings(seal_key="not-a-key")
    assert HubSettings(environment="production", **real).api_token.get_secret_value() == "s3cret"
    assert HubSettings().api_token.get_secret_value() == DEV_API_TOKEN
