"""Stores and a hub for the return tests, with the broker left out.

``InProcessHub`` is the hub's real RPC handler and ingest on a real SQLite hub database: a
store's request goes straight to ``cloud_hub.rpc.answer``, and ``sync`` carries a store's
outbox to the hub exactly as the uplink's batches would (same envelope, same inbound path,
same ack). Turning ``reachable`` off is what the uplink does when the broker is gone: it raises
``HubUnreachable``. The end-to-end tests run the same flows over a real broker.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from cloud_hub import catalog as hub_catalog
from cloud_hub import rpc
from cloud_hub.db import create_schema, make_engine
from cloud_hub.fanout import FanOut
from cloud_hub.inbound import Inbound
from cloud_hub.orders.rules import OrderRules
from edge_agent import catalog, outbox
from edge_agent.auth import Device, Role
from edge_agent.db import StoreDB
from edge_agent.errors import HubRefused, HubUnreachable
from edge_agent.movements import ReceiptRequest, receive_stock
from edge_agent.returns import ReturnDesk
from edge_agent.sales import SaleRequest, SaleResult, record_sale
from storelink_contract.common import Product
from storelink_contract.envelope import encode_batch
from storelink_contract.rpc import Method, RpcRequest
from storelink_contract.topics import store_topic

NOW = datetime.fromisoformat("2026-11-23T12:00:00+00:00")
MUG = Product(
    sku="MUG-1", gtin="4006381333931", name="Stoneware mug", price_cents=450, category="home"
)
TEE = Product(
    sku="TEE-2", gtin="0012345678905", name="Organic tee", price_cents=1500, category="apparel"
)
TILL = Device("till-1", Role.POS)
TILL_2 = Device("till-2", Role.POS)
MANAGER = Device("manager-1", Role.MANAGER)
CARD = {"kind": "card", "amount_cents": 600, "processor_token": "tok_visa_4242", "last4": "4242"}
GIFT = {"kind": "gift_card", "amount_cents": 300, "processor_token": "gc_000123"}


@dataclass
class InProcessHub:
    engine: Engine
    now: datetime = NOW
    reachable: bool = True
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inbound = Inbound(self.engine, FanOut(), OrderRules())

    def call(self, store_id: str) -> Any:
        def ask(method: Method, params: BaseModel, timeout_s: float) -> dict[str, Any]:
            self.calls.append(method)
            if not self.reachable:
                raise HubUnreachable("the hub is not reachable")
            request = RpcRequest(
                id=secrets.token_hex(8),
                method=method,
                deadline=self.now + timedelta(seconds=timeout_s),
                params=params.model_dump(mode="json"),
            )
            answer = rpc.answer(self.engine, store_id, request, self.now, OrderRules())
            if answer is None:
                raise HubUnreachable("no answer")
            if not answer.ok:
                raise HubRefused(answer.error)
            return answer.result or {}

        return ask

    def sync(self, store: Store) -> None:
        """Everything in the store's outbox to the hub, and the hub's ack back."""
        conn = store.db.read()
        rows = outbox.read_from(conn, outbox.position(conn, outbox.EVENTS_ACKED) + 1, 10_000)
        if not rows:
            return
        payload = encode_batch(store.store_id, "events", rows[0][0], [p for _, p in rows])
        reaction = self.inbound.handle(
            store_topic(store.store_id, "up", "events"), payload, self.now
        )
        assert reaction.events_ack == rows[-1][0], reaction
        with store.db.write() as w:
            outbox.acknowledge(w, reaction.events_ack)


@dataclass
class Store:
    store_id: str
    db: StoreDB
    desk: ReturnDesk

    def sell(self, sale_id: str, lines: list[dict[str, Any]], **extra: Any) -> SaleResult:
        with self.db.write() as conn:
            return record_sale(
                conn,
                SaleRequest(sale_id=sale_id, lines=lines, **extra),
                "till-1",
                NOW,
                self.store_id,
            )

    def on_hand(self, sku: str) -> int:
        row = self.db.read().execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()
        return int(row[0]) if row else 0


def open_hub(tmp_path: Path) -> InProcessHub:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    create_schema(engine)
    with engine.begin() as conn:
        hub_catalog.upsert_products(conn, [MUG, TEE], NOW)
    return InProcessHub(engine)


def open_store(tmp_path: Path, hub: InProcessHub, store_id: str) -> Store:
    db = StoreDB(tmp_path / f"{store_id}.db")
    with db.write() as conn:
        catalog.upsert(conn, [MUG, TEE], NOW)
        receive_stock(
            conn,
            ReceiptRequest(
                receipt_id="opening",
                lines=[{"sku": "MUG-1", "quantity": 10}, {"sku": "TEE-2", "quantity": 10}],
            ),
            NOW,
        )
    return Store(store_id, db, ReturnDesk(db, store_id, hub.call(store_id), 3.0))
