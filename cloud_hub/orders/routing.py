"""Choosing the store that fulfils an order, and choosing again when it cannot.

Rules, in order: the store must offer the fulfilment method and have room (open orders below
its ``order_capacity``), and have every line available to promise for that method:

    on-hand (the hub's view) - safety stock for the method - units already promised to open
    orders routed there (which the store holds reserved, but has not yet handed over)

Among those, the store the customer chose comes first, then stores that are online, then the
nearest (to the customer, or to the store they chose), then the one with the most to spare.
A store that rejects, or does not answer by ``respond_by``, loses the order to the next; it is
never asked twice for the same order. When no store is left the order is ``unfulfillable``:
reported to HQ (an alert), the customer is told and refunded; it is never silently dropped.

All of it runs in the caller's transaction, with the order row locked, so two hub processes
never route one order twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from cloud_hub import alerts, commands, notify
from cloud_hub.db import SafetyStock, Store, StoreStock, table
from cloud_hub.orders import refunds, timeline
from cloud_hub.orders.rules import OrderRules
from cloud_hub.orders.tables import (
    ACTIVE_STATUSES,
    Allocation,
    MethodSafetyStock,
    OnlineOrder,
    OrderLine,
    StoreProfile,
)
from storelink_contract.commands import OrderAllocation, OrderCancel
from storelink_contract.orders import OrderLineItem, ShippingAddress

_O = table(OnlineOrder)
_L = table(OrderLine)
_A = table(Allocation)
_S = table(Store)
_ST = table(StoreStock)
_SS = table(SafetyStock)
_MSS = table(MethodSafetyStock)
_SP = table(StoreProfile)

ACTIVE = ACTIVE_STATUSES
DEFAULT_CAPACITY = 100
ALL_METHODS = "store_pickup,locker_pickup,curbside,ship_from_store,ship_to_store"


@dataclass(frozen=True, slots=True)
class Candidate:
    store_id: str
    requested: bool
    online: bool
    distance_km: float | None
    spare: int

    def rank(self) -> tuple[Any, ...]:
        far = self.distance_km if self.distance_km is not None else math.inf
        return (not self.requested, not self.online, far, -self.spare, self.store_id)


def route(conn: Connection, order_id: str, now: datetime, rules: OrderRules) -> str | None:
    """Allocate the order to the best store it has not been offered to; None if none can."""
    order = conn.execute(select(_O).where(_O.c.order_id == order_id).with_for_update()).one()
    wanted = _wanted(conn, order_id)
    tried = set(conn.execute(select(_A.c.store_id).where(_A.c.order_id == order_id)).scalars())
    ranked = sorted(candidates(conn, order, wanted, tried), key=Candidate.rank)
    if not ranked:
        _unfulfillable(conn, order, tried, now)
        return None
    best = ranked[0]
    attempt = int(order.attempts) + 1
    allocation_id = f"{order_id}-{attempt}"
    respond_by = now + rules.allocation_timeout
    conn.execute(
        insert(_A).values(
            allocation_id=allocation_id,
            order_id=order_id,
            store_id=best.store_id,
            attempt=attempt,
            status="pending",
            respond_by=respond_by,
            created_at=now,
        )
    )
    command = OrderAllocation(
        at=now,
        order_id=order_id,
        allocation_id=allocation_id,
        method=order.method,
        lines=tuple(
            OrderLineItem(sku=sku, quantity=quantity, name=name)
            for sku, quantity, name in conn.execute(
                select(_L.c.sku, _L.c.quantity, _L.c.name)
                .where(_L.c.order_id == order_id)
                .order_by(_L.c.line_no)
            )
        ),
        customer_name=order.customer_name,
        ship_address=(
            ShippingAddress.model_validate_json(order.ship_address) if order.ship_address else None
        ),
        respond_by=respond_by,
        keep_back=keep_back_levels(conn, best.store_id, list(wanted), str(order.method)),
        seal_to=rules.seal_to,
    )
    commands.enqueue(conn, [best.store_id], command, now)
    _allocated(conn, order_id, best, attempt, allocation_id, respond_by, now)
    return best.store_id


def _allocated(
    conn: Connection,
    order_id: str,
    best: Candidate,
    attempt: int,
    allocation_id: str,
    respond_by: datetime,
    now: datetime,
) -> None:
    distance = f", {best.distance_km:.1f} km away" if best.distance_km is not None else ""
    timeline.add(
        conn,
        order_id,
        "allocated",
        now,
        store_id=best.store_id,
        detail=f"offered to {best.store_id} (attempt {attempt}{distance}); "
        f"answer due by {respond_by:%H:%M:%S} UTC",
    )
    conn.execute(
        update(_O)
        .where(_O.c.order_id == order_id)
        .values(
            status="allocated",
            store_id=best.store_id,
            allocation_id=allocation_id,
            attempts=attempt,
            updated_at=now,
        )
    )


def candidates(
    conn: Connection, order: Any, wanted: dict[str, int], tried: set[str]
) -> list[Candidate]:
    """Every store that could take the order now, not yet ranked."""
    method = str(order.method)
    stores = conn.execute(
        select(
            _S.c.store_id,
            _S.c.online,
            _SP.c.lat,
            _SP.c.lon,
            func.coalesce(_SP.c.order_capacity, DEFAULT_CAPACITY),
            func.coalesce(_SP.c.methods, ALL_METHODS),
        )
        .outerjoin(_SP, _SP.c.store_id == _S.c.store_id)
        .where(_S.c.stream_conflict.is_(None))
    ).all()
    if not stores:
        return []
    open_orders: dict[str, int] = dict(
        conn.execute(
            select(_O.c.store_id, func.count())
            .where(_O.c.status.in_(ACTIVE), _O.c.store_id.is_not(None))
            .group_by(_O.c.store_id)
        ).all()
    )
    atp = available_to_promise(conn, list(wanted), method, exclude_order=str(order.order_id))
    origin = _origin(conn, order)
    out = []
    ships_to = order.requested_store_id if method == "ship_to_store" else None
    for store_id, online, lat, lon, capacity, methods in stores:
        if store_id in tried or method not in str(methods).split(","):
            continue
        if store_id == ships_to:
            continue  # ship-to-store brings it from another store
        if open_orders.get(store_id, 0) >= capacity:
            continue
        have = atp.get(store_id, {})
        if any(have.get(sku, 0) < quantity for sku, quantity in wanted.items()):
            continue
        distance = None
        if origin is not None and lat is not None and lon is not None:
            distance = haversine_km(origin, (lat, lon))
        out.append(
            Candidate(
                store_id=store_id,
                requested=store_id == order.requested_store_id and ships_to is None,
                online=bool(online),
                distance_km=distance,
                spare=min(have.get(sku, 0) - q for sku, q in wanted.items()),
            )
        )
    return out


def available_to_promise(
    conn: Connection, skus: list[str], method: str, exclude_order: str | None = None
) -> dict[str, dict[str, int]]:
    """store -> sku -> units the hub can promise for ``method`` (never below zero)."""
    on_hand = conn.execute(
        select(_ST.c.store_id, _ST.c.sku, _ST.c.on_hand).where(_ST.c.sku.in_(skus))
    ).all()
    base = {
        (s, k): q
        for s, k, q in conn.execute(
            select(_SS.c.store_id, _SS.c.sku, _SS.c.quantity).where(_SS.c.sku.in_(skus))
        )
    }
    for s, k, q in conn.execute(
        select(_MSS.c.store_id, _MSS.c.sku, _MSS.c.quantity).where(
            _MSS.c.sku.in_(skus), _MSS.c.method == method
        )
    ):
        base[(s, k)] = q  # the method's own level replaces the store's for this method
    committed_q = (
        select(_O.c.store_id, _L.c.sku, func.sum(_L.c.quantity))
        .join(_L, _L.c.order_id == _O.c.order_id)
        .where(_O.c.status.in_(ACTIVE), _L.c.sku.in_(skus), _O.c.store_id.is_not(None))
        .group_by(_O.c.store_id, _L.c.sku)
    )
    if exclude_order is not None:
        committed_q = committed_q.where(_O.c.order_id != exclude_order)
    committed = {(s, k): int(q) for s, k, q in conn.execute(committed_q)}
    out: dict[str, dict[str, int]] = {}
    for store_id, sku, quantity in on_hand:
        key = (store_id, sku)
        spare = int(quantity) - base.get(key, 0) - committed.get(key, 0)
        out.setdefault(store_id, {})[sku] = max(0, spare)
    return out


def keep_back_levels(
    conn: Connection, store_id: str, skus: list[str], method: str
) -> dict[str, int]:
    """The safety stock routing applied per sku at ``store_id`` for ``method``: the method's
    own level where HQ set one, else the store's (sent with the allocation, so the store
    checks its stock against the same rule)."""
    levels = {
        sku: int(q)
        for sku, q in conn.execute(
            select(_SS.c.sku, _SS.c.quantity).where(_SS.c.store_id == store_id, _SS.c.sku.in_(skus))
        )
    }
    for sku, q in conn.execute(
        select(_MSS.c.sku, _MSS.c.quantity).where(
            _MSS.c.store_id == store_id, _MSS.c.sku.in_(skus), _MSS.c.method == method
        )
    ):
        levels[sku] = int(q)
    return levels


def _wanted(conn: Connection, order_id: str) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for sku, quantity in conn.execute(
        select(_L.c.sku, _L.c.quantity).where(_L.c.order_id == order_id)
    ):
        wanted[sku] = wanted.get(sku, 0) + int(quantity)
    return wanted


def _origin(conn: Connection, order: Any) -> tuple[float, float] | None:
    if order.customer_lat is not None and order.customer_lon is not None:
        return float(order.customer_lat), float(order.customer_lon)
    if order.requested_store_id is None:
        return None
    row = conn.execute(
        select(_SP.c.lat, _SP.c.lon).where(_SP.c.store_id == order.requested_store_id)
    ).first()
    if row is None or row.lat is None or row.lon is None:
        return None
    return float(row.lat), float(row.lon)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _unfulfillable(conn: Connection, order: Any, tried: set[str], now: datetime) -> None:
    order_id = str(order.order_id)
    asked = ", ".join(sorted(tried)) or "none"
    reason = f"no store can fulfil it now (stores asked: {asked})"
    timeline.advance(conn, order_id, "unfulfillable", now, detail=reason, store_id=None)
    refunds.refund_order(
        conn, order_id, source="unfulfillable", ref=order_id, reason=reason, now=now
    )
    alerts.record(
        conn,
        ref=f"order:{order_id}:unfulfillable",
        kind="order_unfulfillable",
        severity="warning",
        subject=order_id,
        message=f"order {order_id} ({order.method}): {reason}; the customer was refunded",
        at=now,
    )
    notify.queue(
        conn,
        order_id=order_id,
        kind="unfulfillable",
        ref=order_id,
        subject=f"We could not fulfil order {order_id}",
        body="Sorry: none of our stores can fulfil your order right now. "
        "Your payment has been refunded to the way you paid.",
        now=now,
    )


def allocate_inbound(
    conn: Connection, order: Any, from_store: str, now: datetime, rules: OrderRules
) -> str:
    """A ship-to-store parcel left ``from_store``: the customer's store expects it, holds it
    and issues the pickup code. Returns the new allocation id."""
    pickup_store = str(order.requested_store_id)
    attempt = int(order.attempts) + 1
    allocation_id = f"{order.order_id}-{attempt}"
    # Generous: the store only has to confirm it expects the parcel; routing never moves
    # a parcel already on its way (``sweep`` alerts instead).
    respond_by = now + max(rules.allocation_timeout, timedelta(hours=24))
    conn.execute(
        insert(_A).values(
            allocation_id=allocation_id,
            order_id=order.order_id,
            store_id=pickup_store,
            attempt=attempt,
            status="pending",
            respond_by=respond_by,
            created_at=now,
        )
    )
    lines = tuple(
        OrderLineItem(sku=sku, quantity=quantity, name=name)
        for sku, quantity, name in conn.execute(
            select(_L.c.sku, _L.c.quantity, _L.c.name)
            .where(_L.c.order_id == order.order_id)
            .order_by(_L.c.line_no)
        )
    )
    command = OrderAllocation(
        at=now,
        order_id=order.order_id,
        allocation_id=allocation_id,
        method="store_pickup",
        lines=lines,
        customer_name=order.customer_name,
        respond_by=respond_by,
        inbound_from=from_store,
        seal_to=rules.seal_to,
    )
    commands.enqueue(conn, [pickup_store], command, now)
    conn.execute(
        update(_O)
        .where(_O.c.order_id == order.order_id)
        .values(store_id=pickup_store, allocation_id=allocation_id, attempts=attempt)
    )
    return allocation_id


# -- taking an order back ---------------------------------------------------------------------


def withdraw(conn: Connection, allocation: Any, status: str, reason: str, now: datetime) -> None:
    """Take an allocation back from its store (timed out, or the order was cancelled): the
    store releases the reservation when the ``order_cancel`` reaches it."""
    conn.execute(
        update(_A)
        .where(_A.c.allocation_id == allocation.allocation_id)
        .values(status=status, reason=reason, decided_at=now)
    )
    commands.enqueue(
        conn,
        [allocation.store_id],
        OrderCancel(
            at=now,
            order_id=allocation.order_id,
            allocation_id=allocation.allocation_id,
            reason=reason[:200],
        ),
        now,
    )


def sweep(conn: Connection, now: datetime, rules: OrderRules, limit: int = 100) -> list[str]:
    """Allocations past their deadline lose the order to the next store; returns their orders."""
    stmt = (
        select(_A)
        .where(_A.c.status == "pending", _A.c.respond_by < now)
        .order_by(_A.c.respond_by)
        .limit(limit)
    )
    moved = []
    for allocation in conn.execute(stmt).all():
        # The order row first, as everywhere (no deadlock with a cancel or an answer); one
        # another hub process holds is its to handle.
        lock = select(_O.c.order_id).where(_O.c.order_id == allocation.order_id)
        skip = conn.dialect.name == "postgresql"
        if conn.execute(lock.with_for_update(skip_locked=skip)).first() is None:
            continue
        claimed = conn.execute(
            update(_A)
            .where(and_(_A.c.allocation_id == allocation.allocation_id, _A.c.status == "pending"))
            .values(status="timed_out", decided_at=now)
        )
        if not claimed.rowcount:
            continue
        status = conn.execute(
            select(_O.c.status).where(_O.c.order_id == allocation.order_id)
        ).scalar_one()
        if status == "in_transit":  # the parcel is on its way: nothing to re-route
            alerts.record(
                conn,
                ref=f"order:{allocation.order_id}:inbound-unconfirmed",
                kind="transfer_unconfirmed",
                store_id=allocation.store_id,
                subject=allocation.order_id,
                message=f"{allocation.store_id} has not confirmed the parcel of order "
                f"{allocation.order_id} coming to it",
                at=now,
            )
            continue
        reason = f"{allocation.store_id} did not answer by {allocation.respond_by:%H:%M:%S} UTC"
        withdraw(conn, allocation, "timed_out", reason, now)
        timeline.add(
            conn, allocation.order_id, "timed_out", now, store_id=allocation.store_id, detail=reason
        )
        route(conn, allocation.order_id, now, rules)
        moved.append(str(allocation.order_id))
    return moved
