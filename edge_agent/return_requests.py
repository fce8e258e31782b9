"""What a till sends to take a return, and what it gets back; and the refusals it can meet.

Used by ``returns.ReturnDesk`` and the POS routes (``api/returns``).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.errors import StoreError
from storelink_contract.common import ExternalId, Quantity, Sku
from storelink_contract.payments import RefundPart
from storelink_contract.returns import Condition, Origin, Purchase, ReturnedLine


class ReturnRefused(StoreError):
    """Not returnable (already returned, a condition not accepted, not on the purchase)."""


class NeedsOverride(StoreError):
    """Outside what the policy allows, but a manager may override it (with a reason)."""


class OverrideNotAllowed(StoreError):
    """Only a manager's device may override the return policy."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReturnLineIn(_Body):
    line_no: int | None = Field(default=None, ge=1, description="The purchase line")
    sku: Sku | None = Field(default=None, description="The item, when the lines are not known")
    quantity: Quantity
    condition: Condition = "unopened"

    @model_validator(mode="after")
    def _names_a_line(self) -> ReturnLineIn:
        if self.line_no is None and self.sku is None:
            raise ValueError("give the purchase line_no, or the sku of the item")
        return self


class Override(_Body):
    reason: str = Field(min_length=3, max_length=300)


class ReturnRequest(_Body):
    return_id: ExternalId = Field(description="Unique per return; a retry reuses it")
    purchase_id: str | None = Field(
        default=None, max_length=110, description="From the lookup; none for no receipt"
    )
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)
    override: Override | None = None

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class ReturnResult(BaseModel):
    return_id: str
    origin: Origin
    purchase_id: str | None
    lines: list[ReturnedLine]
    refunds: list[RefundPart] = Field(
        description="What to give back, per original tender (processor token for the terminal)"
    )
    total_cents: int
    notes: list[str]
    event_seq: int
    replayed: bool = False


class LookupResult(BaseModel):
    purchases: list[Purchase]
    hub_reachable: bool = Field(description="False: only this store's own sales were searched")
