"""Order routes for the sales channels and HQ: place, read (with the timeline), cancel.

A channel (web, app, kiosk: ``STORELINK_HUB_CHANNEL_TOKENS``) places orders and reads only its
own; HQ reads all of them. Placing is idempotent on ``client_order_id``: a retry gets the first
order back with 200, a different order under a used id gets 409. The order is routed to a store
in the same transaction, so a 201 means it is recorded and on its way to a store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from cloud_hub import notify
from cloud_hub.api.deps import (
    ChannelOrHQ,
    ChannelOrOperator,
    Now,
    ReadConn,
    ServiceDep,
    WriteConn,
    require_hq,
)
from cloud_hub.orders import intake, lifecycle, routing, views
from cloud_hub.orders.views import OrderOut, OrderSummary
from storelink_contract.order_requests import OrderRequest

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A retry of an order already placed: that order"},
        409: {"description": "The client_order_id was used for a different order"},
    },
)
def place_order(
    body: OrderRequest,
    caller: ChannelOrOperator,
    conn: WriteConn,
    service: ServiceDep,
    now: Now,
    response: Response,
) -> OrderOut:
    """Place an online order; it is routed to a store at once (or reported unfulfillable)."""
    order_id, created = intake.place(conn, caller.name, body, now)
    if created:
        routing.route(conn, order_id, now, service.order_rules)
    else:
        response.status_code = status.HTTP_200_OK
    return views.order(conn, order_id)


@router.get("")
def list_orders(
    caller: ChannelOrHQ,
    conn: ReadConn,
    order_status: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    store_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderSummary]:
    """Newest first; a channel sees its own orders only."""
    return views.listing(
        conn, status=order_status, store_id=store_id, channel=caller.channel, limit=limit
    )


@router.get("/{order_id}")
def get_order(order_id: OrderPath, caller: ChannelOrHQ, conn: ReadConn) -> OrderOut:
    """The order with its lines, tenders (last four digits only), timeline and refunds."""
    return views.order(conn, order_id, caller.channel)


@router.post("/{order_id}/cancel")
def cancel_order(
    order_id: OrderPath,
    caller: ChannelOrOperator,
    conn: WriteConn,
    service: ServiceDep,
    now: Now,
) -> OrderOut:
    """Cancel before collection: the store releases the stock, the customer is refunded."""
    views.order(conn, order_id, caller.channel)  # 404 for another channel's order
    lifecycle.cancel(conn, order_id, caller.name, now, service.order_rules)
    return views.order(conn, order_id)


@router.get("/{order_id}/notifications", dependencies=[Depends(require_hq)])
def order_notifications(order_id: OrderPath, conn: ReadConn) -> list[notify.NotificationOut]:
    """What the customer was sent about this order, and when (never the pickup code)."""
    views.order(conn, order_id)
    return notify.for_order(conn, order_id)
