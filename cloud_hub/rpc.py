"""The hub's answers to stores' requests (``up/rpc``): purchases, returns, kiosk orders.

One transaction per request; the answer goes back on the store's ``down/rpc`` with the
request's id. A request past its deadline is dropped unanswered (its caller has moved on to
its offline answer). A bad request gets an error answer, never a crash; a domain refusal
(``HubError``) is an error answer with the reason, which the store shows to its user.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from cloud_hub.errors import HubError, NotFound
from cloud_hub.orders import intake, routing, views
from cloud_hub.orders.rules import OrderRules
from cloud_hub.returns import authority, lookup
from storelink_contract.envelope import describe_validation_error
from storelink_contract.order_requests import OrderRequest
from storelink_contract.returns import PurchaseList, PurchaseLookup, ReturnAuthorize
from storelink_contract.rpc import OrderStatus, OrderStatusQuery, RpcRequest, RpcResponse

log = logging.getLogger(__name__)


def kiosk_channel(store_id: str) -> str:
    """The sales channel of a store's kiosks (each store's kiosk orders are its own)."""
    return f"kiosk@{store_id}"


def answer(
    engine: Engine,
    store_id: str,
    request: RpcRequest,
    now: datetime,
    rules: OrderRules,
) -> RpcResponse | None:
    """The response to send, or None when the request has expired."""
    if request.deadline < now:
        log.info(
            "store %s: dropped rpc %s (%s): past its deadline", store_id, request.id, request.method
        )
        return None
    try:
        with engine.begin() as conn:
            result: BaseModel
            match request.method:
                case "purchase_lookup":
                    ask = PurchaseLookup.model_validate(request.params)
                    result = PurchaseList(purchases=tuple(lookup.find(conn, ask.by, ask.value)))
                case "return_authorize":
                    result = authority.authorize(
                        conn, store_id, ReturnAuthorize.model_validate(request.params), now
                    )
                case "order_place":
                    order = OrderRequest.model_validate(request.params)
                    order_id, created = intake.place(conn, kiosk_channel(store_id), order, now)
                    if created:
                        routing.route(conn, order_id, now, rules)
                    result = status(conn, order_id, store_id)
                case "order_status":
                    query = OrderStatusQuery.model_validate(request.params)
                    found = query.order_id or views.by_client_id(
                        conn, kiosk_channel(store_id), query.client_order_id or ""
                    )
                    if found is None:
                        raise NotFound(f"no order {query.client_order_id} from this kiosk")
                    result = status(conn, found, store_id)
    except ValidationError as exc:
        return RpcResponse(id=request.id, ok=False, error=describe_validation_error(exc))
    except HubError as exc:
        return RpcResponse(id=request.id, ok=False, error=str(exc))
    return RpcResponse(id=request.id, ok=True, result=result.model_dump(mode="json"))


def status(conn: Connection, order_id: str, store_id: str) -> OrderStatus:
    """A kiosk order's status for the kiosk of ``store_id`` (its own orders only)."""
    order = views.order(conn, order_id, kiosk_channel(store_id))
    last = order.timeline[-1] if order.timeline else None
    return OrderStatus(
        order_id=order.order_id,
        status=order.status,
        method=order.method,
        store_id=order.store_id,
        pickup_store_id=order.requested_store_id,
        updated_at=order.updated_at,
        detail=last.detail if last else "",
    )
