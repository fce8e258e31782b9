"""Catalog routes: push products and prices to stores, read the hub's catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from cloud_hub import catalog, fleet
from cloud_hub.api.deps import Now, ReadConn, WriteConn, require_hq, require_operator
from cloud_hub.schemas import CommandsEnqueued, ProductOut
from storelink_contract.common import Product, StoreId

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], dependencies=[Depends(require_hq)])

#: Products per CatalogUpsert command, so one command stays a reasonable message.


class CatalogPush(BaseModel):
    """Products to upsert, sent to ``store_ids`` or, when omitted, to every known store."""

    products: list[Product] = Field(min_length=1, max_length=50_000)
    store_ids: list[StoreId] | None = None


@router.put("", dependencies=[Depends(require_operator)])
def put_catalog(
    body: Annotated[CatalogPush | list[Product], Body()], conn: WriteConn, now: Now
) -> CommandsEnqueued:
    """Upsert the hub's catalog and queue ``CatalogUpsert`` commands (a bare list of products
    is accepted too and goes to every known store)."""
    push = body if isinstance(body, CatalogPush) else CatalogPush(products=body)
    if not push.products:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no products")
    catalog.upsert_products(conn, push.products, now)
    if push.store_ids is None:
        targets = fleet.all_store_ids(conn)
    else:
        unknown = [s for s in push.store_ids if not fleet.store_exists(conn, s)]
        if unknown:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown stores: {unknown}")
        targets = push.store_ids
    seqs = catalog.send_to_stores(conn, push.products, targets, now)
    return CommandsEnqueued(command_type="catalog_upsert", seq_by_store=seqs)


@router.get("")
def get_catalog(
    conn: ReadConn,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after_sku: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="in the sku, GTIN or name")] = None,
) -> list[ProductOut]:
    return catalog.products(conn, limit=limit, after_sku=after_sku, q=q)
