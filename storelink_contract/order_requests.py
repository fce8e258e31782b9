"""The order a sales channel places: customer, lines, tenders, fulfilment method.

The hub's order API takes it from web and app channels; a store agent sends it for its kiosk
(endless aisle) over the hub RPC. Idempotent on ``client_order_id`` per channel.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

from storelink_contract.common import Cents, ExternalId, Quantity, Sku, StoreId
from storelink_contract.orders import FulfilmentMethod, ShippingAddress
from storelink_contract.payments import Tender


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeoPoint(_In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Customer(_In):
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{6,24}$")
    loyalty_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    location: GeoPoint | None = Field(
        default=None, description="Where the customer is, for choosing the nearest store"
    )
    address: ShippingAddress | None = Field(
        default=None, description="Where a home delivery (ship_from_store) goes"
    )


class OrderLineIn(_In):
    sku: Sku
    quantity: Quantity
    unit_price_cents: Cents | None = Field(
        default=None, description="The price charged; the catalog price when omitted"
    )


class OrderRequest(_In):
    client_order_id: ExternalId = Field(description="The channel's own id; a retry reuses it")
    method: FulfilmentMethod
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    customer: Customer
    tenders: list[Tender] = Field(min_length=1, max_length=10)
    store_id: StoreId | None = Field(
        default=None, description="The store the customer chose; routing picks one if omitted"
    )

    @model_validator(mode="after")
    def _delivery_has_an_address(self) -> OrderRequest:
        if self.method == "ship_from_store" and self.customer.address is None:
            raise ValueError("a home delivery (ship_from_store) needs customer.address")
        return self

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
