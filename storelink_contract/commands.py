"""Commands the hub sends a store on ``down/commands``.

Applied idempotently at the store: the store's inbox records the stream position in the same
transaction as the effect. ``StockView`` entries are state, not deltas: a store keeps the newest
``as_of`` per (store, sku) so a late or replayed view never overwrites a fresher one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from storelink_contract.common import Frozen, Product, Sku, StoreId, Timestamp


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


class StockView(CommandBase):
    """Other stores' stock, so a kiosk can answer 'where else is it?' while offline."""

    type: Literal["stock_view"] = "stock_view"
    entries: tuple[PeerStock, ...] = Field(min_length=1)


class ResyncRequest(CommandBase):
    """Ask the store for a full stock snapshot (after a digest mismatch, or by an operator)."""

    type: Literal["resync_request"] = "resync_request"
    reason: str = Field(max_length=200)


HubCommand = Annotated[
    CatalogUpsert | SafetyStockSet | StockView | ResyncRequest,
    Field(discriminator="type"),
]
HUB_COMMAND: TypeAdapter[HubCommand] = TypeAdapter(HubCommand)
