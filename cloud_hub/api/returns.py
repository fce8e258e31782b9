"""Return routes for HQ: the return policy, returns as stores reported them, purchase lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from cloud_hub.api.deps import Now, ReadConn, WriteConn, require_hq, require_operator
from cloud_hub.db import table
from cloud_hub.returns import lookup, policy
from cloud_hub.returns.tables import PurchaseReturn
from cloud_hub.schemas import CommandsEnqueued
from storelink_contract.returns import LookupBy, Purchase, ReturnPolicy

router = APIRouter(prefix="/v1", tags=["returns"], dependencies=[Depends(require_hq)])

_PR = table(PurchaseReturn)


class ReturnOut(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    store_id: str
    return_id: str
    purchase_id: str | None
    origin: str
    total_cents: int
    units: int
    refunded_to_tenders_cents: int
    store_credit_cents: int
    override_by: str | None
    flagged: str | None
    at: datetime


@router.get("/return-policy")
def get_policy(conn: ReadConn) -> ReturnPolicy:
    return policy.current(conn)


@router.put("/return-policy", dependencies=[Depends(require_operator)])
def put_policy(body: ReturnPolicy, conn: WriteConn, now: Now) -> CommandsEnqueued:
    """Replace the return policy; every store gets it (and applies it offline too)."""
    return CommandsEnqueued(
        command_type="return_policy_set", seq_by_store=policy.set_policy(conn, body, now)
    )


@router.get("/returns")
def list_returns(
    conn: ReadConn,
    flagged: bool = False,
    store_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ReturnOut]:
    """Returns as the stores reported them, newest first; ``flagged``: only those the hub
    found returned twice, outside policy, or against an unknown purchase."""
    stmt = select(_PR).order_by(_PR.c.at.desc()).limit(limit)
    if flagged:
        stmt = stmt.where(_PR.c.flagged.is_not(None))
    if store_id is not None:
        stmt = stmt.where(_PR.c.store_id == store_id)
    return [ReturnOut.model_validate(r._mapping) for r in conn.execute(stmt)]


@router.get("/purchases")
def find_purchases(
    conn: ReadConn, by: LookupBy, value: Annotated[str, Query(min_length=1, max_length=128)]
) -> list[Purchase]:
    """The purchase index, as a till sees it (tenders by last four digits only)."""
    return lookup.find(conn, by, value)
