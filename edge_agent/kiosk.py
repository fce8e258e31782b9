"""The kiosk: carts that hold the last units briefly, and orders from other stores.

**Carts.** A shopper adding an item at the kiosk holds it (a reservation owned by
``cart:<id>``, ``cart_hold`` long, renewed with every change), so a second shopper is not
promised the same last unit: the holds are taken in the store's one write transaction, so of
two kiosks racing for the last unit exactly one gets it. A sale that names the cart uses the
held units; a cart left alone lapses (the fulfilment job releases it).

**Endless aisle.** An item not here is ordered from another store: shipped to this store for
collection (``ship_to_store``) or to the customer's home (``ship_from_store``). The order goes
to the hub's routing like any online order, over the RPC; with the hub unreachable it is
queued in the event stream and the hub places it when it arrives (idempotent on the kiosk's
order id either way), and the kiosk shows "queued" until then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent import alerts, catalog, outbox, reservations
from edge_agent.clock import iso, parse
from edge_agent.db import StoreDB
from edge_agent.errors import HubRefused, HubUnreachable, StoreError, UnknownProduct
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.common import ExternalId, Quantity, utcnow
from storelink_contract.order_events import KioskOrderRequested
from storelink_contract.order_requests import Customer, OrderLineIn, OrderRequest
from storelink_contract.payments import Tender
from storelink_contract.rpc import Method, OrderStatus, OrderStatusQuery


class NotAvailable(StoreError):
    """Not enough of the item left to hold here."""


class KioskOrderRefused(StoreError):
    """The hub refused the kiosk's order (the reason says why)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CartItem(_Body):
    code: str = Field(min_length=1, max_length=64, description="A sku, or a scanned GTIN")
    quantity: Quantity = 1


class CartLine(BaseModel):
    sku: str
    name: str
    quantity: int


class Cart(BaseModel):
    cart_id: str
    lines: list[CartLine]
    expires_at: datetime | None


def owner(cart_id: str) -> str:
    return f"cart:{cart_id}"


def hold(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    cart_id: str,
    item: CartItem,
    now: datetime,
) -> Cart:
    """Hold ``item`` for the cart, or refuse when it is not there to hold."""
    product = catalog.find(conn, item.code)
    if product is None:
        raise UnknownProduct(f"{item.code} is not in the catalog")
    left = reservations.available(conn, product.sku)
    if left < item.quantity:
        raise NotAvailable(
            f"only {left} {product.name} left to hold here"
            + ("; other stores may have it" if left == 0 else "")
        )
    expires = now + policy.cart_hold
    reservations.hold(conn, owner(cart_id), {product.sku: item.quantity}, expires, now)
    reservations.extend(conn, owner(cart_id), expires)  # the whole cart lives on
    return view(conn, cart_id)


def drop(conn: sqlite3.Connection, cart_id: str, code: str, now: datetime) -> Cart:
    product = catalog.find(conn, code)
    sku = product.sku if product else code
    reservations.close(conn, owner(cart_id), "released", now, sku=sku)
    return view(conn, cart_id)


def release(conn: sqlite3.Connection, cart_id: str, now: datetime) -> None:
    reservations.close(conn, owner(cart_id), "released", now)


def view(conn: sqlite3.Connection, cart_id: str) -> Cart:
    rows = conn.execute(
        "SELECT r.sku, coalesce(p.name, r.sku), sum(r.quantity), max(r.expires_at) "
        "FROM reservation r LEFT JOIN product p ON p.sku = r.sku "
        "WHERE r.owner = ? AND r.state = 'held' GROUP BY r.sku ORDER BY r.sku",
        (owner(cart_id),),
    ).fetchall()
    expires = max((r[3] for r in rows), default=None)
    return Cart(
        cart_id=cart_id,
        lines=[CartLine(sku=sku, name=name, quantity=int(q)) for sku, name, q, _ in rows],
        expires_at=parse(expires) if expires else None,
    )


# -- endless aisle ------------------------------------------------------------------------------


class KioskOrderBody(_Body):
    client_order_id: ExternalId = Field(description="The kiosk's own id; a retry reuses it")
    method: Literal["ship_to_store", "ship_from_store"] = Field(
        description="Collect it here, or have it delivered home"
    )
    lines: list[OrderLineIn] = Field(min_length=1, max_length=50)
    customer: Customer
    tenders: list[Tender] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _delivery_has_an_address(self) -> KioskOrderBody:
        if self.method == "ship_from_store" and self.customer.address is None:
            raise ValueError("a home delivery (ship_from_store) needs customer.address")
        return self


class KioskOrder(BaseModel):
    client_order_id: str
    order_id: str | None
    status: str = Field(description="'queued' until the hub has it; then the hub's status")
    detail: str
    updated_at: datetime


HubCall = Callable[[Method, BaseModel, float], dict[str, Any]]


class KioskOrders:
    """Places and follows a kiosk's orders from other stores."""

    def __init__(self, db: StoreDB, store_id: str, hub: HubCall, timeout_s: float) -> None:
        self._db = db
        self._store_id = store_id
        self._hub = hub
        self._timeout_s = timeout_s

    def place(self, device_id: str, body: KioskOrderBody, now: datetime) -> KioskOrder:
        request = OrderRequest(
            client_order_id=body.client_order_id,
            method=body.method,
            lines=body.lines,
            customer=body.customer,
            tenders=body.tenders,
            store_id=self._store_id if body.method == "ship_to_store" else None,
        )
        earlier = self._row(body.client_order_id)
        if earlier is not None:
            return self.status(body.client_order_id)
        # Checked here too, so an order queued offline is not one the hub will refuse later.
        self._check_total(request)
        try:
            answer = self._hub("order_place", request, self._timeout_s)
        except HubUnreachable:
            return self._queue(device_id, request, now)
        except HubRefused as exc:
            raise KioskOrderRefused(str(exc)) from exc
        return self._remember(device_id, request, OrderStatus.model_validate(answer), now)

    def known(self, client_order_id: str) -> bool:
        return _exists(self._db.read(), client_order_id)

    def status(self, client_order_id: str) -> KioskOrder:
        row = self._row(client_order_id)
        if row is None:
            raise StoreError(f"no kiosk order {client_order_id} here")
        try:
            answer = self._hub(
                "order_status", OrderStatusQuery(client_order_id=client_order_id), self._timeout_s
            )
        except HubUnreachable:
            return row  # the last known status (or 'queued')
        except HubRefused:
            return self._maybe_lost(row)
        status = OrderStatus.model_validate(answer)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE kiosk_order SET order_id = ?, status = ?, detail = ?, updated_at = ? "
                "WHERE client_order_id = ?",
                (
                    status.order_id,
                    status.status,
                    status.detail,
                    iso(status.updated_at),
                    client_order_id,
                ),
            )
        return self._row(client_order_id) or row

    def _check_total(self, request: OrderRequest) -> None:
        conn = self._db.read()
        total = 0
        for line in request.lines:
            product = catalog.find(conn, line.sku)
            if product is None:
                raise KioskOrderRefused(f"{line.sku} is not in the catalog")
            price = product.price_cents if line.unit_price_cents is None else line.unit_price_cents
            total += price * line.quantity
        paid = sum(t.amount_cents for t in request.tenders)
        if paid != total:
            raise KioskOrderRefused(f"the tenders add up to {paid} cents but the order is {total}")

    def _maybe_lost(self, row: KioskOrder) -> KioskOrder:
        """The hub knows no such order. Still queued, unless its event has reached the hub:
        then the hub refused it (it is in the hub's quarantine), and the kiosk says so."""
        conn = self._db.read()
        (seq,) = conn.execute(
            "SELECT event_seq FROM kiosk_order WHERE client_order_id = ?", (row.client_order_id,)
        ).fetchone()
        acked = outbox.position(conn, outbox.EVENTS_ACKED)
        if row.status != "queued" or seq is None or seq > acked:
            return row
        now = utcnow()
        with self._db.write() as w:
            w.execute(
                "UPDATE kiosk_order SET status = 'failed', detail = ?, updated_at = ? "
                "WHERE client_order_id = ? AND status = 'queued'",
                ("the hub could not place it: refund the customer", iso(now), row.client_order_id),
            )
            alerts.raise_alert(
                w,
                "kiosk_order_failed",
                f"kiosk order {row.client_order_id} could not be placed by the hub; refund "
                "the customer's payment",
                now,
                subject=row.client_order_id,
            )
        return self._row(row.client_order_id) or row

    def _queue(self, device_id: str, request: OrderRequest, now: datetime) -> KioskOrder:
        with self._db.write() as conn:
            if _exists(conn, request.client_order_id):
                return _read(conn, request.client_order_id)
            seq = outbox.append(conn, KioskOrderRequested(at=now, request=request))
            _insert(
                conn,
                device_id,
                request,
                None,
                "queued",
                "the hub is unreachable: the order is sent as soon as it is back",
                now,
            )
            conn.execute(
                "UPDATE kiosk_order SET event_seq = ? WHERE client_order_id = ?",
                (seq, request.client_order_id),
            )
            return _read(conn, request.client_order_id)

    def _remember(
        self, device_id: str, request: OrderRequest, status: OrderStatus, now: datetime
    ) -> KioskOrder:
        with self._db.write() as conn:
            if _exists(conn, request.client_order_id):
                conn.execute(
                    "UPDATE kiosk_order SET order_id = ?, status = ?, detail = ?, updated_at = ? "
                    "WHERE client_order_id = ?",
                    (
                        status.order_id,
                        status.status,
                        status.detail,
                        iso(now),
                        request.client_order_id,
                    ),
                )
            else:
                _insert(
                    conn, device_id, request, status.order_id, status.status, status.detail, now
                )
            return _read(conn, request.client_order_id)

    def _row(self, client_order_id: str) -> KioskOrder | None:
        conn = self._db.read()
        return _read(conn, client_order_id) if _exists(conn, client_order_id) else None


def _exists(conn: sqlite3.Connection, client_order_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM kiosk_order WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()
    return row is not None


def _read(conn: sqlite3.Connection, client_order_id: str) -> KioskOrder:
    row = conn.execute(
        "SELECT client_order_id, order_id, status, detail, updated_at FROM kiosk_order "
        "WHERE client_order_id = ?",
        (client_order_id,),
    ).fetchone()
    return KioskOrder(
        client_order_id=row[0],
        order_id=row[1],
        status=row[2],
        detail=row[3],
        updated_at=parse(row[4]),
    )


def _insert(
    conn: sqlite3.Connection,
    device_id: str,
    request: OrderRequest,
    order_id: str | None,
    status: str,
    detail: str,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO kiosk_order (client_order_id, order_id, device_id, request, status, "
        "detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            request.client_order_id,
            order_id,
            device_id,
            request.model_dump_json(),
            status,
            detail,
            iso(now),
            iso(now),
        ),
    )
