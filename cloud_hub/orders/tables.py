"""The hub's order tables. Hot paths use them through SQLAlchemy Core (``db.table``).

Card data: a tender keeps a processor token or a keyed hash of the card, and at most the last
four digits (PCI DSS 3.3.1, 3.5.1); the card number never reaches the hub (the API refuses
anything that looks like one). Pickup codes pass through ``Notification.secret`` only until the
customer has been sent them; then the column is emptied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, UniqueConstraint, func, select
from sqlmodel import Field, SQLModel

from cloud_hub.db import utc_field


class OnlineOrder(SQLModel, table=True):
    """One order from a channel (web, app, kiosk), and where it stands."""

    __tablename__ = "online_order"
    __table_args__ = (UniqueConstraint("channel", "client_order_id"),)

    order_id: str = Field(primary_key=True, max_length=40)
    channel: str = Field(max_length=48)
    client_order_id: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    status: str = Field(max_length=24, index=True)
    method: str = Field(max_length=24)
    customer_name: str = Field(max_length=100)
    customer_email: str | None = Field(default=None, max_length=200)
    customer_phone: str | None = Field(default=None, max_length=32)
    loyalty_id: str | None = Field(default=None, max_length=64, index=True)
    requested_store_id: str | None = Field(default=None, max_length=32)
    customer_lat: float | None = None
    customer_lon: float | None = None
    #: A home delivery's address (``ShippingAddress`` as JSON).
    ship_address: str | None = Field(default=None, max_length=1000)
    store_id: str | None = Field(default=None, max_length=32, index=True)
    allocation_id: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    total_cents: int = Field(sa_type=BigInteger)
    location_kind: str | None = Field(default=None, max_length=16)
    location_id: str | None = Field(default=None, max_length=64)
    location_label: str | None = Field(default=None, max_length=100)
    pickup_expires_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(index=True)
    updated_at: datetime = utc_field()


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    order_id: str = Field(primary_key=True, max_length=40)
    line_no: int = Field(primary_key=True)
    sku: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    quantity: int
    unit_price_cents: int = Field(sa_type=BigInteger)


class OrderTender(SQLModel, table=True):
    """How the order was paid, split as paid: refunds go back the same way."""

    __tablename__ = "order_tender"

    order_id: str = Field(primary_key=True, max_length=40)
    tender_no: int = Field(primary_key=True)
    kind: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=BigInteger)
    processor_token: str | None = Field(default=None, max_length=128, index=True)
    card_hash: str | None = Field(default=None, max_length=64, index=True)
    last4: str | None = Field(default=None, max_length=4)


class Allocation(SQLModel, table=True):
    """One attempt to have a store fulfil an order.

    ``pending`` until the store answers; then ``accepted`` or ``rejected``. ``timed_out``
    when it did not answer by ``respond_by``, ``withdrawn`` when the hub took the order back
    (an ``order_cancel`` was sent), ``released`` when the store confirmed it let go.
    """

    __tablename__ = "order_allocation"

    allocation_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=40, index=True)
    store_id: str = Field(max_length=32, index=True)
    attempt: int
    status: str = Field(max_length=16, index=True)
    respond_by: datetime = utc_field(index=True)
    reason: str = Field(default="", sa_type=Text)
    created_at: datetime = utc_field()
    decided_at: datetime | None = utc_field(nullable=True)


class OrderTimeline(SQLModel, table=True):
    """Every step of an order, for the customer channel and HQ."""

    __tablename__ = "order_timeline"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=40, index=True)
    at: datetime = utc_field()
    status: str = Field(max_length=24)
    store_id: str | None = Field(default=None, max_length=32)
    detail: str = Field(default="", sa_type=Text)


class Notification(SQLModel, table=True):
    """A message to the customer, written with the change that causes it and sent after.

    ``(order_id, kind, ref)`` is unique, so a replayed event never notifies twice.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("order_id", "kind", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=24)
    ref: str = Field(max_length=64)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    #: Pickup code and QR (JSON) until sent; emptied once the notifier has taken them.
    secret: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = utc_field(index=True)
    claimed_at: datetime | None = utc_field(nullable=True)
    attempts: int = 0
    last_error: str = Field(default="", sa_type=Text)
    sent_at: datetime | None = utc_field(nullable=True)


class Refund(SQLModel, table=True):
    """Money going back to a tender: for an expired or cancelled order, or a return."""

    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("source", "ref", "tender_no"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str | None = Field(default=None, max_length=40, index=True)
    source: str = Field(max_length=24)
    ref: str = Field(max_length=100)
    tender_no: int
    kind: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=BigInteger)
    processor_token: str | None = Field(default=None, max_length=128)
    card_hash: str | None = Field(default=None, max_length=64)
    last4: str | None = Field(default=None, max_length=4)
    store_id: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", sa_type=Text)
    at: datetime = utc_field(index=True)


class StoreProfile(SQLModel, table=True):
    """What routing needs to know of a store: where it is, what it offers, how much it takes."""

    __tablename__ = "store_profile"

    store_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=100)
    lat: float | None = None
    lon: float | None = None
    #: Open online orders (allocated to ready) the store takes at once.
    order_capacity: int = 100
    #: Comma-separated fulfilment methods the store offers.
    methods: str = Field(
        default="store_pickup,locker_pickup,curbside,ship_from_store,ship_to_store"
    )
    updated_at: datetime = utc_field()


class MethodSafetyStock(SQLModel, table=True):
    """Units of a sku a store keeps back from one fulfilment method (on top of nothing: this
    replaces the store's safety stock for that method when it is set)."""

    __tablename__ = "method_safety_stock"

    store_id: str = Field(primary_key=True, max_length=32)
    sku: str = Field(primary_key=True, max_length=64)
    method: str = Field(primary_key=True, max_length=24)
    quantity: int = 0


class Alert(SQLModel, table=True):
    """Something HQ should look at, from a store (``store_alert`` events) or the hub itself.

    ``ref`` is unique: a store's alert id, or the hub's own key, so a replay adds nothing.
    """

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=100, unique=True)
    store_id: str | None = Field(default=None, max_length=32, index=True)
    kind: str = Field(max_length=64, index=True)
    severity: str = Field(max_length=16)
    subject: str = Field(default="", max_length=100)
    message: str = Field(sa_type=Text)
    at: datetime = utc_field(index=True)
    acknowledged_at: datetime | None = utc_field(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)


#: Orders that hold stock at their store: promised, and not yet handed over or shipped.
ACTIVE_STATUSES = ("allocated", "accepted", "picking", "packed", "ready")


def committed_units() -> Any:
    """(store_id, sku, committed): units open orders hold at each store, as a subquery."""
    orders, lines = OnlineOrder.__table__, OrderLine.__table__  # type: ignore[attr-defined]
    return (
        select(orders.c.store_id, lines.c.sku, func.sum(lines.c.quantity).label("committed"))
        .join(lines, lines.c.order_id == orders.c.order_id)
        .where(orders.c.status.in_(ACTIVE_STATUSES), orders.c.store_id.is_not(None))
        .group_by(orders.c.store_id, lines.c.sku)
        .subquery()
    )


ORDER_TABLES: tuple[type[SQLModel], ...] = (
    OnlineOrder,
    OrderLine,
    OrderTender,
    Allocation,
    OrderTimeline,
    Notification,
    Refund,
    StoreProfile,
    MethodSafetyStock,
    Alert,
)
