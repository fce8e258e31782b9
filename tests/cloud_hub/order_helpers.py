"""A hub with stores and a catalog, and stores scripted event by event, for the order tests.

``ScriptedStore`` speaks for one store through the hub's real inbound path (the same function
the MQTT link calls), so every event it sends is validated, stored and applied exactly as a
real agent's would be; the end-to-end tests run real agents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud_hub import commands
from cloud_hub.app import create_app
from cloud_hub.db import CommandOutbox, Store, table
from cloud_hub.inbound import Reaction
from cloud_hub.service import HubService
from cloud_hub.settings import HubSettings
from storelink_contract.sealing import seal
from tests.cloud_hub.hub_helpers import payload, received

TOKEN = "hq-token-0123456789"
WEB = "web-channel-token-0123"
APP = "app-channel-token-0123"
HQ_AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEB_AUTH = {"Authorization": f"Bearer {WEB}"}
APP_AUTH = {"Authorization": f"Bearer {APP}"}
CATALOG = [
    {"sku": "MUG-1", "gtin": "4006381333931", "name": "Stoneware mug", "price_cents": 450},
    {"sku": "TEE-2", "name": "Organic tee", "price_cents": 1500},
]
#: Store positions: A in the city centre, B 5 km north, C 40 km away.
PLACES = {"s-a": (52.52, 13.40), "s-b": (52.565, 13.40), "s-c": (52.88, 13.40)}


class ScriptedStore:
    """One store's side of the wire, driven by the test."""

    def __init__(self, service: HubService, store_id: str) -> None:
        self.service = service
        self.store_id = store_id
        stores = table(Store)
        with service.engine.connect() as conn:  # carry on from where the hub is
            applied = conn.execute(
                select(stores.c.events_applied_upto).where(stores.c.store_id == store_id)
            ).scalar_one_or_none()
        self.seq = int(applied or 0)

    def send(self, *events: dict[str, Any]) -> Reaction:
        items = list(events)
        reaction = self.service.inbound.handle(
            f"storelink/v1/stores/{self.store_id}/up/events",
            payload(self.store_id, self.seq + 1, items),
            datetime.now(UTC),
        )
        self.seq += len(items)
        return reaction

    def commands(self, kind: str) -> list[dict[str, Any]]:
        out = table(CommandOutbox)
        with self.service.engine.connect() as conn:
            rows = conn.execute(
                select(out.c.payload)
                .where(out.c.store_id == self.store_id, out.c.type == kind)
                .order_by(out.c.seq)
            ).scalars()
            return [json.loads(p) for p in rows]

    def allocation(self) -> dict[str, Any]:
        return self.commands("order_allocation")[-1]

    def answer(self, kind: str, allocation: dict[str, Any], **fields: Any) -> Reaction:
        return self.send(order_event(kind, allocation, **fields))

    def accept(self, allocation: dict[str, Any], code: str = "12345678") -> Reaction:
        reserved_until = (datetime.now(UTC) + timedelta(hours=48)).isoformat()
        sealed = None
        if allocation["method"] != "ship_from_store":
            secrets = {"code": code, "qr": f"SLP1:{self.store_id}:{'q' * 20}{code}"}
            sealed = seal(allocation["seal_to"], json.dumps(secrets).encode())
        return self.answer(
            "order_accepted", allocation, reserved_until=reserved_until, sealed_pickup=sealed
        )


def order_event(kind: str, allocation: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "at": datetime.now(UTC).isoformat(),
        "order_id": allocation["order_id"],
        "allocation_id": allocation["allocation_id"],
        **fields,
    }


def web_order(client_order_id: str = "web-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_order_id": client_order_id,
        "method": "locker_pickup",
        "lines": [{"sku": "MUG-1", "quantity": 2}],
        "customer": {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "loyalty_id": "LOY-42",
            "location": {"lat": 52.53, "lon": 13.40},
        },
        "tenders": [
            {
                "kind": "card",
                "amount_cents": 600,
                "processor_token": "tok_visa_4242",
                "last4": "4242",
            },
            {"kind": "gift_card", "amount_cents": 300, "processor_token": "gc_000123"},
        ],
    }
    body.update(overrides)
    return body


@contextmanager
def open_hub(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The HQ app on ``db_url``, with a catalog and three stores stocked (5 of each sku)."""
    settings = HubSettings(
        database_url=db_url,
        api_token=TOKEN,
        channel_tokens=f"web:{WEB},app:{APP}",
        notifications_file=tmp_path / "notifications.jsonl",
        allocation_timeout_s=60,
    )
    with TestClient(create_app(settings, with_link=False)) as client:
        assert client.put("/v1/catalog", headers=HQ_AUTH, json=CATALOG).status_code == 200
        service = hub_service(client)
        now = datetime.now(UTC)
        for store_id, (lat, lon) in PLACES.items():
            store = ScriptedStore(service, store_id)
            store.send(received("MUG-1", 5, now), received("TEE-2", 5, now, "r2"))
            r = client.put(
                f"/v1/stores/{store_id}/profile",
                headers=HQ_AUTH,
                json={"name": store_id, "lat": lat, "lon": lon},
            )
            assert r.status_code == 200, r.text
        yield client


def hub_service(client: TestClient) -> HubService:
    service = client.app.state.hub  # type: ignore[attr-defined]
    assert isinstance(service, HubService)
    return service


def pending_commands(service: HubService, store_id: str) -> int:
    with service.engine.connect() as conn:
        return commands.backlog(conn, store_id)


def notifications(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
