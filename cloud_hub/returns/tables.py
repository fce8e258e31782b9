"""The purchase index and return tables.

A purchase is one row, found by receipt, order number or loyalty id; a sale's lines and
tenders stay in the sale's own event (``event_seq``), an online order's in the order tables.
Card tenders also get a ``PurchaseTender`` row at once (found by token). The ``PurchaseLine``
rows and the remaining tender rows are written the first time something is returned against
the purchase (``index.materialize``): every POS sale is indexed in the ingest hot path, and
only a few percent ever come back.

``PurchaseLine.returned`` is the one number that says how much of a line has come back, from
any store: a CHECK constraint keeps it between 0 and the quantity bought, and every return
takes its units with a conditional UPDATE, so two returns of the last unit at once cannot both
succeed, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Text
from sqlmodel import Field, SQLModel

from cloud_hub.db import utc_field


class Purchase(SQLModel, table=True):
    """A completed purchase: a POS sale, or an online order collected or shipped."""

    __tablename__ = "purchase"

    purchase_id: str = Field(primary_key=True, max_length=110)
    channel: str = Field(max_length=48)
    store_id: str | None = Field(default=None, max_length=32)
    order_id: str | None = Field(default=None, max_length=40, index=True)
    sale_id: str | None = Field(default=None, max_length=64)
    loyalty_id: str | None = Field(default=None, max_length=64, index=True)
    purchased_at: datetime = utc_field()
    total_cents: int = Field(sa_type=BigInteger)
    #: A POS sale's position in its store's event stream (``store_event``): its lines.
    event_seq: int | None = Field(default=None, sa_type=BigInteger)


class PurchaseLine(SQLModel, table=True):
    __tablename__ = "purchase_line"
    __table_args__ = (
        CheckConstraint("returned >= 0 AND returned <= quantity", name="ck_returned_in_range"),
    )

    purchase_id: str = Field(primary_key=True, max_length=110)
    line_no: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    category: str = Field(default="general", max_length=64)
    quantity: int
    returned: int = 0
    unit_price_cents: int = Field(sa_type=BigInteger)


class PurchaseTender(SQLModel, table=True):
    __tablename__ = "purchase_tender"

    purchase_id: str = Field(primary_key=True, max_length=110)
    tender_no: int = Field(primary_key=True)
    kind: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=BigInteger)
    processor_token: str | None = Field(default=None, max_length=128, index=True)
    card_hash: str | None = Field(default=None, max_length=64, index=True)
    last4: str | None = Field(default=None, max_length=4)
    refunded_cents: int = Field(default=0, sa_type=BigInteger)


class ReturnAuthorization(SQLModel, table=True):
    """Units an online return took at the hub, waiting for the store's ``return_recorded``.

    ``authorized`` until the store's event confirms it (``completed``); one never confirmed
    within an hour is ``lapsed`` and its units go back to returnable (the till never finished).
    """

    __tablename__ = "return_authorization"

    authorization_id: str = Field(primary_key=True, max_length=100)
    return_id: str = Field(max_length=64, index=True)
    store_id: str = Field(max_length=32)
    purchase_id: str = Field(max_length=110, index=True)
    status: str = Field(max_length=16, index=True)
    lines: str = Field(sa_type=Text)
    refunds: str = Field(sa_type=Text)
    total_cents: int = Field(sa_type=BigInteger)
    created_at: datetime = utc_field(index=True)


class PurchaseReturn(SQLModel, table=True):
    """Every return a store reported, with what the hub found when it checked it."""

    __tablename__ = "purchase_return"

    store_id: str = Field(primary_key=True, max_length=32)
    return_id: str = Field(primary_key=True, max_length=64)
    purchase_id: str | None = Field(default=None, max_length=110, index=True)
    origin: str = Field(max_length=16)
    total_cents: int = Field(sa_type=BigInteger)
    units: int
    refunded_to_tenders_cents: int = Field(default=0, sa_type=BigInteger)
    store_credit_cents: int = Field(default=0, sa_type=BigInteger)
    override_by: str | None = Field(default=None, max_length=64)
    #: The ``return_recorded`` event in the store's stream (its lines and refunds).
    event_seq: int | None = Field(default=None, sa_type=BigInteger)
    #: Why HQ should look at it: returned twice, outside policy, unknown purchase.
    flagged: str | None = Field(default=None, sa_type=Text)
    at: datetime = utc_field(index=True)


class ReturnPolicyRow(SQLModel, table=True):
    """The return policy in force (one row), as JSON of ``returns.ReturnPolicy``."""

    __tablename__ = "return_policy"

    id: int = Field(default=1, primary_key=True)
    policy: str = Field(sa_type=Text)
    updated_at: datetime = utc_field()


RETURN_TABLES: tuple[type[SQLModel], ...] = (
    Purchase,
    PurchaseLine,
    PurchaseTender,
    ReturnAuthorization,
    PurchaseReturn,
    ReturnPolicyRow,
)
