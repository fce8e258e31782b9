"""Commands the hub sends a store on ``down/commands``.

Applied idempotently at the store: the store's inbox records the stream position in the same
transaction as the effect. ``StockView`` entries are state, not deltas: a store keeps the newest
``as_of`` per (store, sku) so a late or replayed view never overwrites a fresher one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

from storelink_contract.common import Frozen, Product, Sku, StoreId, Timestamp
from storelink_contract.orders import (
    AllocationId,
    FulfilmentMethod,
    OrderId,
    OrderLineItem,
    ShippingAddress,
)
from storelink_contract.returns import ReturnPolicy
from storelink_contract.sealing import PUBLIC_KEY_PATTERN


class CommandBase(Frozen):
    at: Timestamp


class CatalogUpsert(CommandBase):
    """New or changed products and prices."""

    type: Literal["catalog_upsert"] = "catalog_upsert"
    products: tuple[Product, ...] = Field(min_length=1)


class SafetyStockLevel(Frozen):
    sku: Sku
    quantity: int = Field(ge=0, le=1_000_000)


class SafetyStockSet(CommandBase):
    """Units per sku held back from available-to-promise at this store."""

    type: Literal["safety_stock_set"] = "safety_stock_set"
    levels: tuple[SafetyStockLevel, ...] = Field(min_length=1)


class PeerStock(Frozen):
    """Another store's figure for one sku, as the hub last knew it."""

    store_id: StoreId
    sku: Sku
    on_hand: int
    available: int = Field(ge=0)
    as_of: Timestamp


class NetworkStock(Frozen):
    """What every other store together can still promise of one sku (the kiosk's 'online')."""

    sku: Sku
    available: int = Field(ge=0)


class StockView(CommandBase):
    """Other stores' stock, so a kiosk can answer 'where else is it?' while offline.

    ``entries`` are figures of the store's nearby stores only (``StockPeers`` says which);
    ``network`` totals every other store, as of ``at``.
    """

    type: Literal["stock_view"] = "stock_view"
    entries: tuple[PeerStock, ...] = ()
    network: tuple[NetworkStock, ...] = ()

    @model_validator(mode="after")
    def _says_something(self) -> StockView:
        if not self.entries and not self.network:
            raise ValueError("a stock view needs entries or network figures")
        return self


class StockPeers(CommandBase):
    """The stores whose figures this store now follows, nearest first: figures of any other
    store it kept are no longer updated and are dropped."""

    type: Literal["stock_peers"] = "stock_peers"
    stores: tuple[StoreId, ...] = Field(max_length=100)


class ResyncRequest(CommandBase):
    """Ask the store for a full stock snapshot (after a digest mismatch, or by an operator)."""

    type: Literal["resync_request"] = "resync_request"
    reason: str = Field(max_length=200)


class OrderAllocation(CommandBase):
    """The hub routes an online order to this store: reserve and accept it, or reject it.

    Applied once per ``allocation_id`` (a re-sent or duplicated allocation reserves nothing
    more). An allocation applied after ``respond_by`` is rejected: by then the hub has given
    the order to another store.
    """

    type: Literal["order_allocation"] = "order_allocation"
    order_id: OrderId
    allocation_id: AllocationId
    method: FulfilmentMethod
    lines: tuple[OrderLineItem, ...] = Field(min_length=1, max_length=200)
    customer_name: str = Field(default="", max_length=100)
    respond_by: Timestamp
    #: Units to keep back per sku for this fulfilment method, as the hub routed the order;
    #: the store checks its own stock against the same level (its own safety stock when absent).
    keep_back: dict[Sku, int] = Field(default_factory=dict)
    #: ``ship_to_store``: the store the parcel goes to, where the customer collects it.
    deliver_to: StoreId | None = None
    #: The parcel comes from another store (``ship_to_store``): nothing to reserve here until
    #: it arrives; the customer's pickup code is issued here at once.
    inbound_from: StoreId | None = None
    #: ``ship_from_store``: the customer's address, for the parcel's label.
    ship_address: ShippingAddress | None = None
    #: The hub's public key: the store seals the customer's pickup code and QR to it.
    seal_to: Annotated[str, StringConstraints(pattern=PUBLIC_KEY_PATTERN)]


class OrderCancel(CommandBase):
    """Withdraw an allocation (the store was too slow, or the customer cancelled): release
    its reservation and revoke its pickup codes, unless the order was already handed over."""

    type: Literal["order_cancel"] = "order_cancel"
    order_id: OrderId
    allocation_id: AllocationId
    reason: str = Field(max_length=200)


class ReturnPolicySet(CommandBase):
    """The return policy HQ set (per category, and the offline rule); replaces the last one."""

    type: Literal["return_policy_set"] = "return_policy_set"
    policy: ReturnPolicy


class StoreListing(Frozen):
    store_id: StoreId
    name: str = Field(default="", max_length=100)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class StoreDirectory(CommandBase):
    """Where the other stores are, so a kiosk can list the nearest first (also offline)."""

    type: Literal["store_directory"] = "store_directory"
    stores: tuple[StoreListing, ...] = Field(min_length=1)


HubCommand = Annotated[
    CatalogUpsert
    | SafetyStockSet
    | StockView
    | StockPeers
    | ResyncRequest
    | OrderAllocation
    | OrderCancel
    | ReturnPolicySet
    | StoreDirectory,
    Field(discriminator="type"),
]
HUB_COMMAND: TypeAdapter[HubCommand] = TypeAdapter(HubCommand)
