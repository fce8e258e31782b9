"""POST /v1/sales: the till records a sale."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from edge_agent.api.deps import TillCaller
from edge_agent.sales import SaleRequest, SaleResult, record_sale
from storelink_contract.common import utcnow

router = APIRouter(prefix="/v1/sales", tags=["sales"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A retry of a sale already recorded: the first result"}},
)
def post_sale(body: SaleRequest, caller: TillCaller, response: Response) -> SaleResult:
    """Record a sale. Works offline; the same ``sale_id`` twice is one sale.

    A plain ``def``: the commit waits for fsync, which must not stall the event loop that
    answers kiosk lookups.
    """
    with caller.agent.db.write() as conn:
        result = record_sale(
            conn, body, caller.device.device_id, utcnow(), caller.agent.settings.store_id
        )
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result
