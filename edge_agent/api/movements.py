"""POST /v1/receipts and /v1/adjustments: staff receive and correct stock."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from edge_agent.api.deps import StaffCaller
from edge_agent.movements import (
    AdjustmentRequest,
    MovementResult,
    ReceiptRequest,
    adjust_stock,
    receive_stock,
)
from storelink_contract.common import utcnow

router = APIRouter(prefix="/v1", tags=["stock movements"])


@router.post("/receipts", status_code=status.HTTP_201_CREATED)
def post_receipt(body: ReceiptRequest, caller: StaffCaller, response: Response) -> MovementResult:
    """Receive delivered goods into on-hand; the same ``receipt_id`` twice is one receipt."""
    with caller.agent.db.write() as conn:
        result = receive_stock(conn, body, utcnow())
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result


@router.post("/adjustments", status_code=status.HTTP_201_CREATED)
def post_adjustment(
    body: AdjustmentRequest, caller: StaffCaller, response: Response
) -> MovementResult:
    """Correct on-hand by a signed delta (adjustment, count or damage)."""
    with caller.agent.db.write() as conn:
        result = adjust_stock(conn, body, utcnow())
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result
