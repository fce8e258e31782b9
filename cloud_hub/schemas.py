"""Wire models the hub returns over HTTP; table models never leave the database layer."""

from __future__ import annotations

import json
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storelink_contract.session import DeviceHealth


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class StoreStatus(_Out):
    """One store's health as HQ sees it."""

    store_id: str
    online: bool
    last_seen: datetime
    sync_lag_s: float | None
    backlog: int
    oldest_unsent_age_s: float
    events_applied_upto: int
    commands_acked_upto: int
    commands_pending: int
    version: str
    bdseq: int
    stream_conflict: str | None = None
    devices: list[DeviceHealth] = Field(default_factory=list)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_from_json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value


class StoreSkuStock(_Out):
    """One store's figure for one sku; ``as_of`` says how fresh it is."""

    store_id: str
    sku: str
    on_hand: int
    safety_stock: int
    committed: int = Field(default=0, description="Held for open online orders")
    available: int
    as_of: datetime
    online: bool


class SkuAcrossStores(_Out):
    sku: str
    total_on_hand: int
    total_available: int
    stores: list[StoreSkuStock]


class StoreStockView(_Out):
    store_id: str
    as_of: datetime | None
    items: list[StoreSkuStock]


class QuarantineBrief(_Out):
    """A quarantine entry without its payload (the dashboard's list)."""

    id: int
    store_id: str | None
    topic: str
    seq: int | None
    reason: str
    received_at: datetime
    replayed_at: datetime | None


#: Payment references in a set-aside payload (valid JSON or not): HQ sees that they were
#: there, never what they were, as everywhere else on the HQ side.
_SECRETS = re.compile(r'("(?:processor_token|card_hash)"\s*:\s*)"[^"]*"')
#: A purchase lookup by card token carries the token as its ``value``.
_CARD_LOOKUP = re.compile(r'\{[^{}]*"by"\s*:\s*"card_token"[^{}]*\}')
_VALUE = re.compile(r'("value"\s*:\s*)"[^"]*"')


def redact(payload: str) -> str:
    """``payload`` with every payment reference replaced by ``[redacted]``."""
    payload = _CARD_LOOKUP.sub(lambda m: _VALUE.sub(r'\1"[redacted]"', m.group(0)), payload)
    return _SECRETS.sub(r'\1"[redacted]"', payload)


class QuarantineEntry(QuarantineBrief):
    payload: str

    @field_validator("payload")
    @classmethod
    def _redact(cls, value: str) -> str:
        return redact(value)


class ProductOut(_Out):
    sku: str
    gtin: str | None
    name: str
    price_cents: int
    category: str
    updated_at: datetime


class CommandsEnqueued(_Out):
    """What a write did: the command sequence allocated per store."""

    command_type: str
    seq_by_store: dict[str, int]
