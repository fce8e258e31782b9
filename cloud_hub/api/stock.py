"""Stock routes: one sku across every store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from cloud_hub import stock
from cloud_hub.api.deps import ReadConn, require_hq
from cloud_hub.schemas import SkuAcrossStores

router = APIRouter(prefix="/v1/stock", tags=["stock"], dependencies=[Depends(require_hq)])

#: Skus may contain '/', hence the path converter; the pattern is the contract's Sku rule.
SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]


@router.get("/{sku:path}")
def get_sku(sku: SkuPath, conn: ReadConn) -> SkuAcrossStores:
    """On-hand and available per store, each with ``as_of``, highest available first."""
    return stock.sku_across_stores(conn, sku)
