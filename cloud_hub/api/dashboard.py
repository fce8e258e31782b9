"""The dashboard's data: one summary, a live stream of it, and the drill-downs.

``GET /v1/dashboard/events`` is a server-sent event stream: a ``summary`` event at once and
then whenever anything in it changes (checked every ``STREAM_INTERVAL_S``), with a comment
line now and then so proxies keep the connection open. Every route needs an HQ sign-in (or
the API token).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from cloud_hub import dashboard
from cloud_hub.api.deps import ReadConn, ServiceDep, require_hq
from cloud_hub.dashboard import Summary
from cloud_hub.db import READ_ONLY, StoreEvent, table
from cloud_hub.returns import lookup
from cloud_hub.returns.tables import PurchaseReturn
from cloud_hub.service import HubService
from storelink_contract.common import utcnow
from storelink_contract.returns import Purchase
from storelink_contract.topics import STORE_ID_PATTERN

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], dependencies=[Depends(require_hq)])

STREAM_INTERVAL_S = 1.0
KEEPALIVE_S = 15.0
_PR = table(PurchaseReturn)
_E = table(StoreEvent)


class ReturnDetail(BaseModel):
    store_id: str
    return_id: str
    origin: str
    flagged: str | None
    total_cents: int
    override_by: str | None
    event: dict[str, Any] | None
    purchase: Purchase | None


def _summary(service: HubService) -> Summary:
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        return dashboard.summary(conn, utcnow())


@router.get("/summary")
def summary(service: ServiceDep) -> Summary:
    return _summary(service)


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, service: ServiceDep) -> StreamingResponse:
    """Live updates for the dashboard (text/event-stream)."""

    async def stream() -> AsyncIterator[str]:
        last = ""
        quiet = 0.0
        while not service.stopping.is_set() and not await request.is_disconnected():
            current = await run_in_threadpool(_summary, service)
            body = current.model_dump_json()
            changed = json.dumps({**json.loads(body), "at": None})
            if changed != last:
                last, quiet = changed, 0.0
                yield f"event: summary\ndata: {body}\n\n"
            elif quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield ": still here\n\n"
            await asyncio.sleep(STREAM_INTERVAL_S)
            quiet += STREAM_INTERVAL_S

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/returns/{store_id}/{return_id}")
def return_detail(
    store_id: Annotated[str, Path(pattern=STORE_ID_PATTERN)],
    return_id: Annotated[str, Path(min_length=1, max_length=64)],
    conn: ReadConn,
) -> ReturnDetail:
    """One return as the store reported it, with the purchase it was taken against."""
    row = conn.execute(
        select(_PR).where(_PR.c.store_id == store_id, _PR.c.return_id == return_id)
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no return {return_id} at {store_id}")
    event = None
    if row.event_seq is not None:
        payload = conn.execute(
            select(_E.c.payload).where(_E.c.store_id == store_id, _E.c.seq == row.event_seq)
        ).scalar_one_or_none()
        event = json.loads(payload) if payload else None
        if event is not None:
            for refund in event.get("refunds", []):
                refund.pop("processor_token", None)  # HQ sees last four digits only
    return ReturnDetail(
        store_id=store_id,
        return_id=return_id,
        origin=row.origin,
        flagged=row.flagged,
        total_cents=row.total_cents,
        override_by=row.override_by,
        event=event,
        purchase=lookup.purchase(conn, row.purchase_id) if row.purchase_id else None,
    )
