"""The kiosk: search, carts that hold the last units, and orders from other stores.

Search answers for every matching product with this store's figure, the other stores nearest
first (each with the age of its figure) and what the fleet can ship. Works offline from the
last synced view; ordering from another store needs the hub, or is queued until it is back.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from edge_agent import kiosk
from edge_agent.api.deps import AnyCaller, KioskCaller
from edge_agent.kiosk import Cart, CartItem, KioskOrder, KioskOrderBody
from edge_agent.stock import StockLookup, search
from storelink_contract.common import utcnow

router = APIRouter(prefix="/v1/kiosk", tags=["kiosk"])

CartPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@router.get("/search")
def find(
    caller: AnyCaller, q: Annotated[str, Query(min_length=1, max_length=64)]
) -> list[StockLookup]:
    """Products by sku, scanned GTIN or name: here, nearby (nearest first) and online."""
    agent = caller.agent
    return search(agent.db.read(), agent.settings.store_id, q, utcnow())


@router.get("/carts/{cart_id}")
def get_cart(cart_id: CartPath, caller: KioskCaller) -> Cart:
    return kiosk.view(caller.agent.db.read(), cart_id)


@router.post("/carts/{cart_id}/items", responses={409: {"description": "Not enough left to hold"}})
def add_to_cart(cart_id: CartPath, body: CartItem, caller: KioskCaller) -> Cart:
    """Hold the item for this cart (the last unit is nobody else's while held)."""
    agent = caller.agent
    with agent.db.write() as conn:
        return kiosk.hold(conn, agent.policy, cart_id, body, utcnow())


@router.delete("/carts/{cart_id}/items/{code}")
def remove_from_cart(
    cart_id: CartPath, code: Annotated[str, Path(min_length=1, max_length=64)], caller: KioskCaller
) -> Cart:
    with caller.agent.db.write() as conn:
        return kiosk.drop(conn, cart_id, code, utcnow())


@router.delete("/carts/{cart_id}", status_code=status.HTTP_204_NO_CONTENT)
def empty_cart(cart_id: CartPath, caller: KioskCaller) -> None:
    with caller.agent.db.write() as conn:
        kiosk.release(conn, cart_id, utcnow())


@router.post("/orders", status_code=status.HTTP_201_CREATED)
def order_elsewhere(body: KioskOrderBody, caller: KioskCaller, response: Response) -> KioskOrder:
    """Endless aisle: order from another store, to collect here or for home delivery. 201
    placed (or ``queued`` while the hub is unreachable); 200 for a retry of the same order."""
    agent = caller.agent
    known = agent.kiosk_orders.known(body.client_order_id)
    placed = agent.kiosk_orders.place(caller.device.device_id, body, utcnow())
    if known:
        response.status_code = status.HTTP_200_OK
    return placed


@router.get("/orders/{client_order_id}")
def order_status(client_order_id: CartPath, caller: KioskCaller) -> KioskOrder:
    """Where the order is now (the last known status while the hub is unreachable)."""
    return caller.agent.kiosk_orders.status(client_order_id)
