"""GET /v1/stock/{sku_or_gtin}: what a kiosk, a till or staff see for one product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from edge_agent.api.deps import AnyCaller
from edge_agent.stock import StockLookup, lookup
from storelink_contract.common import utcnow

router = APIRouter(prefix="/v1/stock", tags=["stock"])


@router.get("/{sku_or_gtin}", response_model=StockLookup)
async def get_stock(
    sku_or_gtin: Annotated[str, Path(min_length=1, max_length=64)],
    caller: AnyCaller,
) -> Response:
    """This store's figure and other stores' figures with their age.

    ``async def`` on purpose: a primary-key read through sqlite3 takes microseconds, cheaper
    than a hop to the thread pool. The model is serialised once, here, instead of being
    validated again by FastAPI's response handling (the hottest path of the store's API).
    """
    agent = caller.agent
    found = lookup(agent.db.read(), agent.settings.store_id, sku_or_gtin, utcnow())
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product {sku_or_gtin!r} here")
    return Response(found.model_dump_json(), media_type="application/json")
