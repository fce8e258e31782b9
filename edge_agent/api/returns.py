"""Returns at the POS: find the purchase, then take the return.

``GET /v1/returns/purchases?by=receipt&value=SLR1:store-001:till-1-000042`` looks in this
store's sales and, online, in the hub's index of every channel. ``POST /v1/returns`` takes
it back under the return policy; answers: 201 with the refund per original tender, 200 for a
retry, 409 when only a manager's override can allow it (``NeedsOverride``), 422 when it cannot
be returned at all, 403 for an override from a device that is not a manager's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from edge_agent.api.deps import AnyCaller, LookupCaller, TillCaller
from edge_agent.return_requests import LookupResult, ReturnRequest, ReturnResult
from edge_agent.returns import current_policy
from storelink_contract.common import utcnow
from storelink_contract.returns import LookupBy, ReturnPolicy

router = APIRouter(prefix="/v1/returns", tags=["returns"])


@router.get("/purchases")
def find_purchases(
    caller: LookupCaller,
    by: LookupBy,
    value: Annotated[str, Query(min_length=1, max_length=128)],
) -> LookupResult:
    """Purchases to return against, by receipt barcode, order number, loyalty id or card
    (processor token or keyed hash). Tenders show only the last four digits."""
    return caller.agent.returns.lookup(by, value)


@router.get("/policy")
def return_policy(caller: AnyCaller) -> ReturnPolicy:
    """The return policy this store applies (HQ's latest; the default until HQ sets one)."""
    return current_policy(caller.agent.db.read())


@router.post("", status_code=status.HTTP_201_CREATED)
def take_return(body: ReturnRequest, caller: TillCaller, response: Response) -> ReturnResult:
    result = caller.agent.returns.take_return(caller.device, body, utcnow())
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result
