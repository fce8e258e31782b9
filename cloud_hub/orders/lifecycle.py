"""What the stores' order events do to the hub's orders, and cancellations from channels.

Called by ingest for each order event, inside the batch's transaction (the inbox guarantees
each event is applied once). An event applies to the allocation it names, and only if that
allocation is the store's: a store cannot move another store's order, and an event naming an
allocation the hub never made is refused (quarantined, the stream goes on).

Late answers are expected: a store that accepts after its allocation timed out changes
nothing (the ``order_cancel`` it gets next releases its stock); a store that hands an order
over after the customer cancelled is believed (the parcel is gone) and HQ is alerted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cloud_hub import alerts, notify
from cloud_hub.db import table
from cloud_hub.errors import Conflict, EventRefused, HubError, NotFound
from cloud_hub.orders import intake, refunds, routing, timeline
from cloud_hub.orders.rules import OrderRules
from cloud_hub.orders.tables import Allocation, OnlineOrder
from cloud_hub.returns import authority, index
from storelink_contract.events import StoreEvent
from storelink_contract.order_events import (
    KioskOrderRequested,
    LockerDoorOpened,
    OrderAccepted,
    OrderCollected,
    OrderExpired,
    OrderProgressed,
    OrderReady,
    OrderRejected,
    OrderReleased,
    PickupCodeReissued,
    PickupReminderDue,
    StoreAlert,
)
from storelink_contract.returns import order_purchase_id

_O = table(OnlineOrder)
_A = table(Allocation)

HANDLED = frozenset(
    cls.model_fields["type"].default
    for cls in (
        OrderAccepted,
        OrderRejected,
        OrderProgressed,
        OrderReady,
        OrderCollected,
        OrderExpired,
        OrderReleased,
        PickupReminderDue,
        PickupCodeReissued,
        LockerDoorOpened,
        StoreAlert,
        KioskOrderRequested,
    )
)


def apply(
    conn: Connection,
    store_id: str,
    seq: int,
    event: StoreEvent,
    now: datetime,
    rules: OrderRules,
) -> None:
    """Apply one store event of a type in ``HANDLED``."""
    if isinstance(event, StoreAlert):
        alerts.record(
            conn,
            ref=f"store:{store_id}:{event.alert_id}",
            store_id=store_id,
            kind=event.kind,
            severity=event.severity,
            subject=event.subject,
            message=event.message,
            at=event.at,
        )
        return
    if isinstance(event, KioskOrderRequested):
        _kiosk_order(conn, store_id, event, now, rules)
        return
    if isinstance(event, LockerDoorOpened):
        if event.order_id is not None and not _holds(conn, store_id, event.order_id):
            raise EventRefused(
                f"locker_door_opened from {store_id} names order {event.order_id}, which the "
                "hub never gave it"
            )
        if event.order_id is not None:
            timeline.add(
                conn,
                event.order_id,
                "door_opened",
                now,
                store_id=store_id,
                detail=f"{event.compartment_id} opened for {event.purpose} by {event.actor} "
                f"({event.confirmed_by})",
            )
        return
    # Locks in one order everywhere (the order row, then its allocation): a cancel or the
    # timeout sweep running at the same time waits instead of deadlocking (PostgreSQL).
    order_id: str = getattr(event, "order_id", "")
    order = conn.execute(select(_O).where(_O.c.order_id == order_id).with_for_update()).first()
    allocation = _allocation(conn, store_id, event)
    assert order is not None  # the allocation names it
    current = order.allocation_id == allocation.allocation_id
    match event:
        case OrderAccepted():
            _accepted(conn, allocation, order, event, current, now)
        case OrderRejected():
            _rejected(conn, allocation, order, event, current, now, rules)
        case OrderReleased():
            conn.execute(
                update(_A)
                .where(_A.c.allocation_id == allocation.allocation_id)
                .values(status="released", decided_at=now)
            )
            timeline.add(
                conn,
                order.order_id,
                "released",
                now,
                store_id=store_id,
                detail=f"{store_id} released its reservation: {event.reason}",
            )
        case OrderCollected() if not (current and allocation.status == "accepted"):
            _collected_after_withdrawal(conn, allocation, order, event, now)
        case _ if not (current and allocation.status == "accepted"):
            timeline.add(
                conn,
                order.order_id,
                "ignored",
                now,
                store_id=store_id,
                detail=f"{event.type} from {store_id} for a withdrawn allocation",
            )
        case _:
            _progress(conn, allocation, order, event, seq, now, rules)


def _allocation(conn: Connection, store_id: str, event: Any) -> Any:
    allocation = conn.execute(
        select(_A).where(_A.c.allocation_id == event.allocation_id).with_for_update()
    ).first()
    if allocation is None:
        raise EventRefused(
            f"{event.type} names allocation {event.allocation_id}, which the hub never made"
        )
    if allocation.store_id != store_id or allocation.order_id != event.order_id:
        raise EventRefused(
            f"{event.type} from {store_id} names allocation {event.allocation_id} of "
            f"{allocation.store_id} (order {allocation.order_id})"
        )
    return allocation


def _kiosk_order(
    conn: Connection, store_id: str, event: KioskOrderRequested, now: datetime, rules: OrderRules
) -> None:
    """Place an order a kiosk took offline (the same as its online call would have)."""
    channel = f"kiosk@{store_id}"
    try:
        with conn.begin_nested():
            order_id, created = intake.place(conn, channel, event.request, now)
            if created:
                routing.route(conn, order_id, now, rules)
    except HubError as exc:
        raise EventRefused(f"kiosk order {event.request.client_order_id}: {exc}") from exc


def _holds(conn: Connection, store_id: str, order_id: str) -> bool:
    """Whether the hub ever allocated ``order_id`` to ``store_id`` (its events may speak of it)."""
    row = conn.execute(
        select(_A.c.allocation_id).where(_A.c.order_id == order_id, _A.c.store_id == store_id)
    ).first()
    return row is not None


def _decide(conn: Connection, allocation: Any, status: str, reason: str, now: datetime) -> None:
    conn.execute(
        update(_A)
        .where(_A.c.allocation_id == allocation.allocation_id)
        .values(status=status, reason=reason, decided_at=now)
    )


def _accepted(
    conn: Connection,
    allocation: Any,
    order: Any,
    event: OrderAccepted,
    current: bool,
    now: datetime,
) -> None:
    store_id = allocation.store_id
    if allocation.status != "pending" or not current:
        timeline.add(
            conn,
            order.order_id,
            "ignored",
            now,
            store_id=store_id,
            detail=f"late acceptance by {store_id}: the order had moved on",
        )
        return
    _decide(conn, allocation, "accepted", "", now)
    if order.status == "in_transit":
        # The customer's store for a ship-to-store order: it expects the parcel.
        timeline.add(
            conn,
            order.order_id,
            "expected",
            now,
            store_id=store_id,
            detail=f"{store_id} will hold it for collection",
        )
    else:
        timeline.advance(
            conn,
            order.order_id,
            "accepted",
            now,
            store_id=store_id,
            detail=f"accepted by {store_id}; stock reserved until "
            f"{event.reserved_until:%Y-%m-%d %H:%M} UTC",
        )
    # The code travels in the notification's secret, never in its stored text.
    how = (
        "We will let you know when it is ready. To collect it, use the pickup code and "
        "QR code in this message."
        if event.sealed_pickup
        else "We will let you know when it ships."
    )
    notify.queue(
        conn,
        order_id=order.order_id,
        kind="confirmed",
        ref=allocation.allocation_id,
        subject=f"Order {order.order_id} confirmed",
        body=f"Thank you, {order.customer_name}. Your order is being prepared at {store_id}. {how}",
        now=now,
        sealed=event.sealed_pickup,
    )


def _rejected(
    conn: Connection,
    allocation: Any,
    order: Any,
    event: OrderRejected,
    current: bool,
    now: datetime,
    rules: OrderRules,
) -> None:
    store_id = allocation.store_id
    if allocation.status != "pending":
        timeline.add(
            conn,
            order.order_id,
            "ignored",
            now,
            store_id=store_id,
            detail=f"late rejection by {store_id}: {event.reason}",
        )
        return
    _decide(conn, allocation, "rejected", event.reason, now)
    timeline.add(conn, order.order_id, "rejected", now, store_id=store_id, detail=event.reason)
    if current:
        routing.route(conn, order.order_id, now, rules)


def _progress(
    conn: Connection,
    allocation: Any,
    order: Any,
    event: StoreEvent,
    seq: int,
    now: datetime,
    rules: OrderRules,
) -> None:
    store_id = allocation.store_id
    order_id = order.order_id
    match event:
        case OrderProgressed(status="shipped") if order.method == "ship_to_store":
            timeline.advance(
                conn,
                order_id,
                "in_transit",
                now,
                store_id=store_id,
                detail=f"shipped to {order.requested_store_id} ({event.tracking or 'in the van'})",
            )
            routing.allocate_inbound(conn, order, store_id, now, rules)
        case OrderProgressed(status="shipped"):
            timeline.advance(
                conn,
                order_id,
                "shipped",
                now,
                store_id=store_id,
                detail=event.tracking or "handed to the carrier",
            )
            _now_a_purchase(conn, order_id, store_id, event.at, now)
            notify.queue(
                conn,
                order_id=order_id,
                kind="shipped",
                ref=allocation.allocation_id,
                subject=f"Order {order_id} is on its way",
                body=f"Your order left {store_id}. Tracking: {event.tracking or 'n/a'}.",
                now=now,
            )
        case OrderProgressed():
            detail = f"parcel size {event.parcel_size}" if event.parcel_size else ""
            timeline.advance(conn, order_id, event.status, now, store_id=store_id, detail=detail)
        case OrderReady():
            loc = event.location
            timeline.advance(
                conn,
                order_id,
                "ready",
                now,
                store_id=store_id,
                detail=f"{loc.label or loc.location_id}; collect by "
                f"{event.pickup_expires_at:%Y-%m-%d %H:%M} UTC",
                location_kind=loc.kind,
                location_id=loc.location_id,
                location_label=loc.label,
                pickup_expires_at=event.pickup_expires_at,
            )
            where = "the locker" if loc.kind == "locker" else "the pickup counter"
            notify.queue(
                conn,
                order_id=order_id,
                kind="ready",
                ref=allocation.allocation_id,
                subject=f"Order {order_id} is ready to collect",
                body=f"Your order is waiting at {where} of {store_id} ({loc.label}). Use your "
                f"pickup code or QR code by {event.pickup_expires_at:%Y-%m-%d %H:%M} UTC.",
                now=now,
            )
        case OrderCollected():
            timeline.advance(
                conn,
                order_id,
                "collected",
                now,
                store_id=store_id,
                detail=f"at the {event.via} ({event.device_id})",
            )
            _now_a_purchase(conn, order_id, store_id, event.at, now)
        case OrderExpired():
            # The allocation is over: a collection reported after this refund is an alert.
            _decide(conn, allocation, "expired", event.reason, now)
            timeline.advance(conn, order_id, "expired", now, store_id=store_id, detail=event.reason)
            cents = refunds.refund_order(
                conn,
                order_id,
                source="expired",
                ref=allocation.allocation_id,
                reason=event.reason,
                now=now,
                store_id=store_id,
            )
            notify.queue(
                conn,
                order_id=order_id,
                kind="expired",
                ref=allocation.allocation_id,
                subject=f"Order {order_id} was not collected",
                body=f"Your order was {event.reason}. We have refunded "
                f"{rules.money(cents)} to the way you paid.",
                now=now,
            )
        case PickupReminderDue():
            if order.status != "ready":
                return
            soon = event.kind == "expiring"
            notify.queue(
                conn,
                order_id=order_id,
                kind=event.kind,
                ref=allocation.allocation_id,
                subject=(
                    f"Last chance to collect order {order_id}"
                    if soon
                    else f"Order {order_id} is waiting for you"
                ),
                body=f"Your order is at {store_id}; please collect it by "
                f"{event.pickup_expires_at:%Y-%m-%d %H:%M} UTC.",
                now=now,
            )
        case PickupCodeReissued():
            timeline.add(conn, order_id, "new_code", now, store_id=store_id, detail=event.reason)
            notify.queue(
                conn,
                order_id=order_id,
                kind="new_code",
                ref=f"{allocation.allocation_id}:{seq}",
                subject=f"A new pickup code for order {order_id}",
                body="Here are your new pickup code and QR code; the old ones no longer work.",
                now=now,
                sealed=event.sealed_pickup,
            )


def _collected_after_withdrawal(
    conn: Connection, allocation: Any, order: Any, event: OrderCollected, now: datetime
) -> None:
    """The store handed the parcel over after the hub took the order back (cancelled) or
    refunded it (expired): believe the store (the parcel is gone) and alert HQ."""
    store_id = allocation.store_id
    timeline.advance(
        conn,
        order.order_id,
        "collected",
        now,
        store_id=store_id,
        detail=f"at the {event.via} ({event.device_id}), after it was {allocation.status}",
    )
    _now_a_purchase(conn, order.order_id, store_id, event.at, now)
    alerts.record(
        conn,
        ref=f"order:{order.order_id}:collected-after-withdrawal",
        store_id=store_id,
        kind="collected_after_cancel",
        severity="critical",
        subject=order.order_id,
        message=f"order {order.order_id} was collected at {store_id} after the hub had "
        f"closed it ({allocation.status}, refunded); the refund may need reversing",
        at=now,
    )


def cancel(conn: Connection, order_id: str, by: str, now: datetime, rules: OrderRules) -> None:
    """A channel or HQ cancels an order not yet collected: its store is told to release it,
    and the customer is refunded to the original tenders."""
    order = conn.execute(select(_O).where(_O.c.order_id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order.status not in (*routing.ACTIVE, "received"):
        raise Conflict(f"order {order_id} is {order.status}: it can no longer be cancelled")
    if order.allocation_id is not None:
        allocation = conn.execute(select(_A).where(_A.c.allocation_id == order.allocation_id)).one()
        if allocation.status in ("pending", "accepted"):
            routing.withdraw(conn, allocation, "withdrawn", f"cancelled by {by}", now)
    timeline.advance(conn, order_id, "cancelled", now, detail=f"cancelled by {by}")
    cents = refunds.refund_order(
        conn, order_id, source="cancelled", ref=order_id, reason=f"cancelled by {by}", now=now
    )
    notify.queue(
        conn,
        order_id=order_id,
        kind="cancelled",
        ref=order_id,
        subject=f"Order {order_id} cancelled",
        body=f"Your order was cancelled and {rules.money(cents)} refunded.",
        now=now,
    )


def _now_a_purchase(
    conn: Connection, order_id: str, store_id: str, at: datetime, now: datetime
) -> None:
    """The customer has the order: index it for returns, and check any return of it a
    store took offline before the hub knew it was collected."""
    index.add_order(conn, order_id, store_id, at)
    authority.check_late_returns(conn, [order_purchase_id(order_id)], now)
