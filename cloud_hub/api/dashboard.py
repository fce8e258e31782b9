"""The dashboard's data: one summary, a live stream of it, and the drill-downs.

``GET /v1/dashboard/events`` is a server-sent event stream: a ``summary`` event at once and
then whenever anything in it changes (checked every ``STREAM_INTERVAL_S``), with a comment
line now and then so proxies keep the connection open. Every route needs an HQ sign-in (or
the API token). A stream opened with a sign-in ends when that session does (signed out, user
removed or reset, expired): the browser's reconnect then meets the sign-in check.

The summary is computed at most once per interval however many dashboards are open: every
stream reads the same one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from cloud_hub import dashboard, users
from cloud_hub.api.deps import SESSION_COOKIE, HQUser, Principal, ReadConn, ServiceDep, require_hq
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
#: How often a stream checks that its sign-in still holds.
SESSION_CHECK_S = 5.0
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


class SharedSummary:
    """The latest summary, recomputed when older than ``max_age_s`` (one per interval)."""

    def __init__(self, service: HubService, max_age_s: float) -> None:
        self._service = service
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._latest: tuple[float, Summary] | None = None

    def get(self) -> Summary:
        with self._lock:  # one computation at a time; the others wait for its answer
            if self._latest is None or time.monotonic() - self._latest[0] >= self._max_age_s:
                self._latest = (time.monotonic(), _summary(self._service))
            return self._latest[1]


def _summary(service: HubService) -> Summary:
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        return dashboard.summary(conn, utcnow(), currency=service.settings.currency)


def _shared(request: Request, service: HubService) -> SharedSummary:
    shared = getattr(request.app.state, "dashboard_summary", None)
    if shared is None:
        shared = request.app.state.dashboard_summary = SharedSummary(service, STREAM_INTERVAL_S)
    assert isinstance(shared, SharedSummary)
    return shared


def _still_signed_in(service: HubService, user: Principal, cookie: str | None) -> bool:
    if user.csrf_token is None:  # the API token: nothing to expire
        return True
    if not cookie:
        return False
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        signed = users.session(conn, cookie, utcnow())
    return signed is not None and signed.role == user.role


@router.get("/summary")
def summary(service: ServiceDep) -> Summary:
    return _summary(service)


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, service: ServiceDep, user: HQUser) -> StreamingResponse:
    """Live updates for the dashboard (text/event-stream)."""
    shared = _shared(request, service)
    cookie = request.cookies.get(SESSION_COOKIE)

    async def stream() -> AsyncIterator[str]:
        last = ""
        quiet = 0.0
        checked = time.monotonic()
        while not service.stopping.is_set() and not await request.is_disconnected():
            if time.monotonic() - checked >= SESSION_CHECK_S:
                checked = time.monotonic()
                if not await run_in_threadpool(_still_signed_in, service, user, cookie):
                    return
            current = await run_in_threadpool(shared.get)
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
