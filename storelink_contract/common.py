"""Value types shared by events and commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from storelink_contract.topics import STORE_ID_PATTERN

Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]
Gtin = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$|^[0-9]{12,14}$")]
StoreId = Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Timestamp = AwareDatetime
Cents = Annotated[int, Field(ge=0, le=10**11)]
Quantity = Annotated[int, Field(ge=1, le=100_000)]

#: Why an inventory ledger entry exists. Signed deltas carry one of these, never an absolute.
#: ``fulfilment`` is an online order handed over to its customer (or shipped from the store).
DeltaReason = Literal[
    "sale", "return", "receipt", "adjustment", "count", "damage", "transfer", "fulfilment"
]


def utcnow() -> datetime:
    """Timezone-aware now, the only kind of timestamp that crosses the wire."""
    return datetime.now(UTC)


class Frozen(BaseModel):
    """Base for wire models: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StockDelta(Frozen):
    """One signed change to on-hand for one sku, with its reason."""

    sku: Sku
    delta: int = Field(ge=-1_000_000, le=1_000_000)
    reason: DeltaReason


class Product(Frozen):
    """A catalog entry as the hub publishes it; prices are integer minor units (cents)."""

    sku: Sku
    gtin: Gtin | None = None
    name: str = Field(min_length=1, max_length=200)
    price_cents: Cents
    category: str = Field(default="general", min_length=1, max_length=64)


class EventBase(Frozen):
    """What every store event has: when it happened, and its effect on on-hand (if any)."""

    at: Timestamp
    deltas: tuple[StockDelta, ...] = ()
