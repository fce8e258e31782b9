"""Events a store reports on ``up/events``.

Every event that changes inventory carries its ledger effect as ``deltas`` (signed, with a
reason), so the hub keeps its per-store on-hand view by summing deltas without knowing each event
type's business meaning; the type-specific fields are there for the hub's other views (sales,
purchase index). ``StockSnapshot`` and ``StockDigest`` are the drift checks: a digest is the count
and hash of the store's on-hand at that point of the stream, a snapshot replaces the hub's view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from storelink_contract.common import (
    Cents,
    EventBase,
    ExternalId,
    Frozen,
    Quantity,
    Sku,
)
from storelink_contract.order_events import (
    KioskOrderRequested,
    LockerDoorOpened,
    OrderAccepted,
    OrderCollected,
    OrderExpired,
    OrderProgressed,
    OrderReady,
    OrderRejected,
    OrderReleased,
    PickupCodeReissued,
    PickupReminderDue,
    StoreAlert,
)
from storelink_contract.payments import Tender
from storelink_contract.returns import ReturnRecorded


class SaleLine(Frozen):
    sku: Sku
    quantity: Quantity
    unit_price_cents: Cents


class SaleRecorded(EventBase):
    """A POS sale; ``deltas`` hold the negative quantities. With its tenders (none: cash) and
    loyalty id it goes into the hub's purchase index, so any store can take it back; its
    receipt barcode is ``returns.receipt_code(store, sale_id)``."""

    type: Literal["sale_recorded"] = "sale_recorded"
    sale_id: ExternalId
    terminal_id: ExternalId
    lines: tuple[SaleLine, ...] = Field(min_length=1)
    total_cents: Cents
    loyalty_id: str | None = Field(default=None, max_length=64)
    tenders: tuple[Tender, ...] = ()


class StockReceived(EventBase):
    """Goods received into the store (a delivery, a transfer in)."""

    type: Literal["stock_received"] = "stock_received"
    receipt_id: ExternalId


class StockAdjusted(EventBase):
    """A manual correction (damage, found, count) with the staff member's note."""

    type: Literal["stock_adjusted"] = "stock_adjusted"
    adjustment_id: ExternalId
    note: str = Field(default="", max_length=500)
    #: A cycle count: how many skus it covered, how many units it found, and by what means;
    #: ``deltas`` are the skus it found off. HQ follows count accuracy per store from these.
    counted_skus: int | None = Field(default=None, ge=0)
    counted_units: int | None = Field(default=None, ge=0)
    count_method: Literal["rfid", "manual"] | None = None


class StockSnapshot(EventBase):
    """The store's full on-hand, sent on a resync request; replaces the hub's view."""

    type: Literal["stock_snapshot"] = "stock_snapshot"
    on_hand: dict[Sku, int]


class StockDigest(EventBase):
    """Count and hash of on-hand at this point of the stream; a mismatch triggers a resync."""

    type: Literal["stock_digest"] = "stock_digest"
    sku_count: int = Field(ge=0)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


StoreEvent = Annotated[
    SaleRecorded
    | StockReceived
    | StockAdjusted
    | StockSnapshot
    | StockDigest
    | OrderAccepted
    | OrderRejected
    | OrderProgressed
    | OrderReady
    | OrderCollected
    | OrderExpired
    | OrderReleased
    | PickupReminderDue
    | PickupCodeReissued
    | LockerDoorOpened
    | StoreAlert
    | ReturnRecorded
    | KioskOrderRequested,
    Field(discriminator="type"),
]
STORE_EVENT: TypeAdapter[StoreEvent] = TypeAdapter(StoreEvent)


def stock_digest(on_hand: Iterable[tuple[str, int]]) -> tuple[int, str]:
    """Count and SHA-256 of non-zero on-hand rows, order-independent (sorted by sku).

    Zero rows are skipped so a sku that sold out and one never stocked hash the same way on
    both sides.
    """
    rows = sorted((sku, qty) for sku, qty in on_hand if qty != 0)
    h = hashlib.sha256()
    for sku, qty in rows:
        h.update(f"{sku}\x1f{qty}\x1e".encode())
    return len(rows), h.hexdigest()


class EventBatch(Frozen):
    """A whole events batch validated in one pass from its JSON bytes.

    The fast path for receivers: pydantic-core parses and validates the envelope and every
    event in Rust, with no intermediate Python dicts. When it fails, the receiver falls back to
    ``envelope.decode_batch`` and validates item by item, to quarantine only the bad ones.
    """

    v: Literal[1]
    sender: str = Field(min_length=1, max_length=32)
    stream: Literal["events"]
    first_seq: int = Field(ge=1)
    epoch: str | None = Field(default=None, pattern=r"^[0-9a-f]{8,32}$")
    items: list[StoreEvent] = Field(min_length=1)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.items) - 1
