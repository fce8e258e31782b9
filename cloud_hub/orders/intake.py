"""Orders from the sales channels (web, app, kiosk): validated, recorded once, then routed.

Idempotent on the channel's own order id: the same request again returns the first order,
the same id with a different request is refused (409), so a channel that retries after a
timeout never creates a second order. Prices come from the hub's catalog unless the channel
sends the price it charged; the tenders must add up to the total. Card numbers are refused:
a card tender carries the payment processor's token or the channel's keyed hash of the card,
and the last four digits.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cloud_hub import fleet
from cloud_hub.db import Product, table
from cloud_hub.errors import Conflict, Invalid
from cloud_hub.orders import timeline
from cloud_hub.orders.tables import OnlineOrder, OrderLine, OrderTender
from storelink_contract.order_requests import OrderRequest

_O = table(OnlineOrder)
_L = table(OrderLine)
_T = table(OrderTender)
_P = table(Product)

#: Crockford's base32 without I, L, O, U: order numbers customers read out and type.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_order_id() -> str:
    return "W" + "".join(secrets.choice(_ALPHABET) for _ in range(9))


def place(conn: Connection, channel: str, request: OrderRequest, now: datetime) -> tuple[str, bool]:
    """Record the order (or find the earlier one); return its id and whether it is new.
    The caller routes a new order in the same transaction."""
    earlier = _earlier(conn, channel, request)
    if earlier is not None:
        return earlier, False
    priced = _price(conn, request)
    total = sum(quantity * price for _sku, _name, quantity, price in priced)
    paid = sum(t.amount_cents for t in request.tenders)
    if paid != total:
        raise Invalid(f"the tenders add up to {paid} cents but the order comes to {total}")
    if request.store_id is not None and not fleet.store_exists(conn, request.store_id):
        raise Invalid(f"unknown store {request.store_id!r}")
    order_id = new_order_id()
    location = request.customer.location
    try:
        with conn.begin_nested():
            conn.execute(
                insert(_O).values(
                    order_id=order_id,
                    channel=channel,
                    client_order_id=request.client_order_id,
                    request_hash=request.fingerprint(),
                    status="received",
                    method=request.method,
                    customer_name=request.customer.name,
                    customer_email=request.customer.email,
                    customer_phone=request.customer.phone,
                    loyalty_id=request.customer.loyalty_id,
                    requested_store_id=request.store_id,
                    customer_lat=location.lat if location else None,
                    customer_lon=location.lon if location else None,
                    ship_address=(
                        request.customer.address.model_dump_json()
                        if request.customer.address
                        else None
                    ),
                    total_cents=total,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        # The same order placed twice at the same moment: the other request won.
        found = _earlier(conn, channel, request)
        if found is None:
            raise
        return found, False
    conn.execute(
        insert(_L),
        [
            {
                "order_id": order_id,
                "line_no": n,
                "sku": sku,
                "name": name,
                "quantity": quantity,
                "unit_price_cents": price,
            }
            for n, (sku, name, quantity, price) in enumerate(priced, start=1)
        ],
    )
    conn.execute(
        insert(_T),
        [
            {"order_id": order_id, "tender_no": n, **t.model_dump()}
            for n, t in enumerate(request.tenders, start=1)
        ],
    )
    timeline.add(conn, order_id, "received", now, detail=f"{request.method} via {channel}")
    return order_id, True


def _earlier(conn: Connection, channel: str, request: OrderRequest) -> str | None:
    row = conn.execute(
        select(_O.c.order_id, _O.c.request_hash).where(
            _O.c.channel == channel, _O.c.client_order_id == request.client_order_id
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request.fingerprint():
        raise Conflict(
            f"order {request.client_order_id} from {channel} was already placed with "
            f"different contents (as {row.order_id})"
        )
    return str(row.order_id)


def _price(conn: Connection, request: OrderRequest) -> list[tuple[str, str, int, int]]:
    skus = {line.sku for line in request.lines}
    known = {
        sku: (name, price)
        for sku, name, price in conn.execute(
            select(_P.c.sku, _P.c.name, _P.c.price_cents).where(_P.c.sku.in_(skus))
        )
    }
    unknown = sorted(skus - known.keys())
    if unknown:
        raise Invalid(f"not in the catalog: {', '.join(unknown)}")
    return [
        (
            line.sku,
            known[line.sku][0],
            line.quantity,
            known[line.sku][1] if line.unit_price_cents is None else line.unit_price_cents,
        )
        for line in request.lines
    ]
