"""Request/response between a store and the hub, for what must be answered online.

A store asks on ``up/rpc`` and the hub answers on the store's ``down/rpc``, matched by ``id``.
Every request carries an absolute ``deadline``: the hub drops a request whose deadline has
passed (its caller has given up and taken its offline answer), and a caller waits no longer
than the deadline. Requests are not queued in any outbox: an answer that comes too late is
worth nothing, and every caller has an offline answer (DESIGN.md section 2).

Methods:

- ``purchase_lookup``: find purchases for a return (``returns.PurchaseLookup`` ->
  ``returns.PurchaseList``);
- ``return_authorize``: take returnable units of a purchase line, atomically at the hub
  (``returns.ReturnAuthorize`` -> ``returns.ReturnAuthorization``);
- ``order_place``: a kiosk's endless-aisle order (``order_requests.OrderRequest`` ->
  ``OrderStatus``);
- ``order_status``: where a kiosk's order is (``OrderStatusQuery`` -> ``OrderStatus``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, TypeAdapter

from storelink_contract.common import Frozen, Timestamp
from storelink_contract.orders import OrderId

Method = Literal["purchase_lookup", "return_authorize", "order_place", "order_status"]
RequestId = str


class RpcRequest(Frozen):
    v: Literal[1] = 1
    kind: Literal["request"] = "request"
    id: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    method: Method
    deadline: Timestamp
    params: dict[str, Any]


class RpcResponse(Frozen):
    v: Literal[1] = 1
    kind: Literal["response"] = "response"
    id: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    ok: bool
    result: dict[str, Any] | None = None
    error: str = Field(default="", max_length=1000)


class OrderStatusQuery(Frozen):
    """One of the kiosk's orders, by the hub's order id or by the kiosk's own id."""

    order_id: OrderId | None = None
    client_order_id: str | None = Field(default=None, max_length=64)


class OrderStatus(Frozen):
    """A kiosk order as the kiosk shows it."""

    order_id: OrderId
    status: str
    method: str
    store_id: str | None = None
    pickup_store_id: str | None = None
    updated_at: datetime
    detail: str = ""


RPC_REQUEST: TypeAdapter[RpcRequest] = TypeAdapter(RpcRequest)
RPC_RESPONSE: TypeAdapter[RpcResponse] = TypeAdapter(RpcResponse)
