"""Online orders at the store: accept or reject an allocation, and every later transition.

The state machine of one allocation (the hub's order, routed to this store)::

    accepted -> picking -> packed -> ready -> collected
        |          |         |        \\-> expired     (not collected within the hold)
        |          |         \\-> shipped               (ship-from-store, ship-to-store)
        \\----------+---------+--> released            (the hub withdrew it: order_cancel)
    rejected                                           (could not be served, at arrival)
    incoming -> ready -> collected                     (ship-to-store, at the store the
                                                        customer collects at: received)

Every transition commits with the event that reports it (transactional outbox), inside the
caller's write transaction. The store decides on its own, with the hub unreachable if need be:
acceptance reserves the stock (``reservations``) and issues the customer's pickup code and QR
(``credentials``); a handover takes the units off on-hand with a ``fulfilment`` delta.
Allocations are idempotent on ``allocation_id``: a duplicated command reserves nothing twice.

Called by the command inbox (allocations, cancels), ``picking`` (staff), ``pickup`` (lockers and
counter) and ``fulfilment_jobs`` (expiry).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from edge_agent import alerts, catalog, credentials, ledger, lockers, outbox, reservations
from edge_agent.clock import iso, parse
from edge_agent.errors import StoreError
from edge_agent.policy import FulfilmentPolicy
from storelink_contract import sealing
from storelink_contract.commands import OrderAllocation, OrderCancel
from storelink_contract.common import StockDelta
from storelink_contract.order_events import (
    OrderAccepted,
    OrderCollected,
    OrderExpired,
    OrderReady,
    OrderRejected,
    OrderReleased,
    PickupCodeReissued,
)
from storelink_contract.orders import (
    COLLECTED_METHODS,
    PickupLocation,
    PickupSecrets,
    ShippingAddress,
)

OPEN_STATUSES = ("accepted", "picking", "packed", "ready", "incoming")
PICKUP_KINDS: tuple[credentials.Kind, ...] = ("pickup_code", "pickup_qr")
ALL_KINDS: tuple[credentials.Kind, ...] = ("pickup_code", "pickup_qr", "load_code")


class UnknownOrder(StoreError):
    """No order with that id at this store."""


class WrongOrderState(StoreError):
    """The order is not at a point where this can be done (the message says where it is)."""


class OrderLineView(BaseModel):
    line_no: int
    sku: str
    name: str
    quantity: int
    picked: int


class StoreOrder(BaseModel):
    """An online order as staff see it at this store."""

    order_id: str
    allocation_id: str
    method: str
    customer_name: str
    status: str
    reason: str
    received_at: datetime
    reserved_until: datetime | None
    station: str | None
    parcel_size: str | None
    location_kind: str | None
    location_id: str | None
    ready_at: datetime | None
    pickup_expires_at: datetime | None
    last_pick_message: str
    #: Where a home delivery goes (for the label).
    ship_address: ShippingAddress | None = None
    lines: list[OrderLineView]

    @property
    def owner(self) -> str:
        return reservation_owner(self.allocation_id)

    @property
    def to_pick(self) -> int:
        return sum(line.quantity - line.picked for line in self.lines)


def reservation_owner(allocation_id: str) -> str:
    return f"order:{allocation_id}"


# -- arrival ------------------------------------------------------------------------------------


def apply_allocation(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, command: OrderAllocation, now: datetime
) -> str:
    """Accept (reserve, issue codes) or reject an allocation; return the status given.

    A second command with the same ``allocation_id`` changes nothing and returns the status
    the first one produced.
    """
    earlier = conn.execute(
        "SELECT status FROM online_order WHERE allocation_id = ?", (command.allocation_id,)
    ).fetchone()
    if earlier is not None:
        return str(earlier[0])
    wanted: dict[str, int] = {}
    for line in command.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    if command.inbound_from is not None:
        # A ship-to-store parcel coming from another store: nothing here to check or reserve
        # until it arrives (``receive_transfer``); the customer's code is issued here now.
        reason, short = "", dict[str, int]()
        status = "incoming"
        reserved_until = now + policy.transfer_deadline
    else:
        reason, short = _refusal(conn, command, wanted, now)
        status = "rejected" if reason else "accepted"
        reserved_until = now + policy.pick_deadline
    conn.execute(
        "INSERT INTO online_order (allocation_id, order_id, method, customer_name, status, "
        "reason, received_at, reserved_until, seal_to, inbound_from, ship_address, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            command.allocation_id,
            command.order_id,
            command.method,
            command.customer_name,
            status,
            reason,
            iso(now),
            None if reason else iso(reserved_until),
            command.seal_to,
            command.inbound_from,
            command.ship_address.model_dump_json() if command.ship_address else None,
            iso(now),
        ),
    )
    conn.executemany(
        "INSERT INTO order_line (allocation_id, line_no, sku, name, quantity) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (command.allocation_id, n, line.sku, _name(conn, line.sku, line.name), line.quantity)
            for n, line in enumerate(command.lines, start=1)
        ],
    )
    ids = {"order_id": command.order_id, "allocation_id": command.allocation_id}
    if reason:
        outbox.append(conn, OrderRejected(at=now, reason=reason, short=short, **ids))
        return status
    if command.inbound_from is None:
        owner = reservation_owner(command.allocation_id)
        reservations.hold(conn, owner, wanted, reserved_until, now)
    sealed: str | None = None
    if command.method in COLLECTED_METHODS:
        pickup = credentials.issue_pickup(
            conn, policy.code_key, policy.store_id, command.allocation_id, reserved_until, now
        )
        # Only the hub can open it: the clear code is in no row of this database.
        sealed = sealing.seal(command.seal_to, pickup.model_dump_json().encode())
    outbox.append(
        conn, OrderAccepted(at=now, reserved_until=reserved_until, sealed_pickup=sealed, **ids)
    )
    return status


def _refusal(
    conn: sqlite3.Connection, command: OrderAllocation, wanted: dict[str, int], now: datetime
) -> tuple[str, dict[str, int]]:
    if now > command.respond_by:
        return "the allocation arrived after its deadline; the hub has moved on", {}
    busy = conn.execute(
        "SELECT allocation_id FROM online_order WHERE order_id = ? AND status IN "
        "('accepted', 'picking', 'packed', 'ready', 'incoming')",
        (command.order_id,),
    ).fetchone()
    if busy is not None:
        return f"order {command.order_id} is already being fulfilled here ({busy[0]})", {}
    unknown = sorted(sku for sku in wanted if catalog.find(conn, sku) is None)
    if unknown:
        return f"not in this store's catalog: {', '.join(unknown)}", {}
    if command.method == "locker_pickup" and not lockers.any_in_service(conn):
        return "this store has no locker compartments", {}
    short = reservations.shortfalls(conn, wanted, command.keep_back)
    if short:
        parts = [f"{sku}: {have} of {wanted[sku]} available" for sku, have in sorted(short.items())]
        return "not enough stock (" + "; ".join(parts) + ")", short
    return "", {}


def _name(conn: sqlite3.Connection, sku: str, given: str) -> str:
    if given:
        return given
    product = catalog.find(conn, sku)
    return product.name if product else sku


# -- the hub withdraws an allocation ----------------------------------------------------------


def apply_cancel(conn: sqlite3.Connection, command: OrderCancel, now: datetime) -> bool:
    """Release an allocation the hub withdrew; False when there was nothing to release (it was
    never accepted, or is already collected, shipped, expired or released)."""
    order = find(conn, command.allocation_id)
    if order is None or order.status not in OPEN_STATUSES:
        return False
    _finish(conn, order, "released", command.reason, now)
    credentials.revoke(conn, order.allocation_id, ALL_KINDS, now)
    reservations.close(conn, order.owner, "released", now)
    outbox.append(
        conn,
        OrderReleased(
            at=now,
            order_id=order.order_id,
            allocation_id=order.allocation_id,
            reason=command.reason,
        ),
    )
    return True


# -- transitions --------------------------------------------------------------------------------


def mark_ready(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    order: StoreOrder,
    location: PickupLocation,
    now: datetime,
) -> datetime:
    """The parcel is in its compartment (door closed on it) or on the shelf: start the hold."""
    expires = now + policy.pickup_hold
    conn.execute(
        "UPDATE online_order SET status = 'ready', location_kind = ?, location_id = ?, "
        "ready_at = ?, pickup_expires_at = ?, updated_at = ? WHERE allocation_id = ?",
        (
            location.kind,
            location.location_id,
            iso(now),
            iso(expires),
            iso(now),
            order.allocation_id,
        ),
    )
    reservations.extend(conn, order.owner, expires)
    credentials.set_expiry(conn, order.allocation_id, PICKUP_KINDS, expires)
    credentials.revoke(conn, order.allocation_id, ("load_code",), now)
    outbox.append(
        conn,
        OrderReady(
            at=now,
            order_id=order.order_id,
            allocation_id=order.allocation_id,
            location=location,
            pickup_expires_at=expires,
        ),
    )
    return expires


def mark_collected(
    conn: sqlite3.Connection,
    order: StoreOrder,
    via: Literal["locker", "counter"],
    device_id: str,
    now: datetime,
) -> bool:
    """The customer has the parcel: the units leave on-hand, the reservation is fulfilled.

    Reads the order's state again first (a door is opened outside any transaction): False,
    changing nothing, when it was already collected. An order that expired or was released
    while its door opened is still collected (the parcel is gone), with an alert.
    """
    row = conn.execute(
        "SELECT status FROM online_order WHERE allocation_id = ?", (order.allocation_id,)
    ).fetchone()
    status = row[0] if row else None
    if status in ("collected", "shipped"):
        return False
    if status not in OPEN_STATUSES:
        alerts.raise_alert(
            conn,
            "collected_after_close",
            f"order {order.order_id} was handed over at the {via} after it was {status}",
            now,
            subject=order.order_id,
            severity="critical",
        )
    reservations.close(conn, order.owner, "fulfilled", now)
    units: dict[str, int] = {}
    for line in order.lines:  # what left the store, whatever the reservation still held
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    deltas = [
        StockDelta(sku=sku, delta=-quantity, reason="fulfilment")
        for sku, quantity in sorted(units.items())
    ]
    ledger.post(conn, deltas, f"order:{order.order_id}", now)
    credentials.use_all(conn, order.allocation_id, PICKUP_KINDS, now)
    _finish(conn, order, "collected", f"collected at the {via} ({device_id})", now)
    outbox.append(
        conn,
        OrderCollected(
            at=now,
            deltas=tuple(deltas),
            order_id=order.order_id,
            allocation_id=order.allocation_id,
            via=via,
            device_id=device_id,
        ),
    )
    return True


def expire(conn: sqlite3.Connection, order: StoreOrder, reason: str, now: datetime) -> None:
    """Not collected (or not made ready) in time: release everything, flag the compartment."""
    reservations.close(conn, order.owner, "expired", now)
    credentials.expire(conn, order.allocation_id, ALL_KINDS, now)
    _finish(conn, order, "expired", reason, now)
    outbox.append(
        conn,
        OrderExpired(
            at=now, order_id=order.order_id, allocation_id=order.allocation_id, reason=reason
        ),
    )


def reissue_code(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, order_id: str, reason: str, now: datetime
) -> PickupSecrets:
    """Staff give the customer a new code and QR (a lost code, a lockout on the order)."""
    order = active(conn, order_id)
    if order.method not in COLLECTED_METHODS:
        raise WrongOrderState(f"order {order_id} is shipped, it has no pickup code")
    expires = order.pickup_expires_at or order.reserved_until
    pickup = credentials.issue_pickup(
        conn, policy.code_key, policy.store_id, order.allocation_id, expires, now
    )
    conn.execute("DELETE FROM attempt_limit WHERE scope = 'order' AND key = ?", (order.order_id,))
    (seal_to,) = conn.execute(
        "SELECT seal_to FROM online_order WHERE allocation_id = ?", (order.allocation_id,)
    ).fetchone()
    outbox.append(
        conn,
        PickupCodeReissued(
            at=now,
            order_id=order.order_id,
            allocation_id=order.allocation_id,
            sealed_pickup=sealing.seal(seal_to, pickup.model_dump_json().encode()),
            reason=reason,
        ),
    )
    return pickup


def _finish(
    conn: sqlite3.Connection, order: StoreOrder, status: str, reason: str, now: datetime
) -> None:
    conn.execute(
        "UPDATE online_order SET status = ?, reason = ?, station = NULL, updated_at = ? "
        "WHERE allocation_id = ?",
        (status, reason, iso(now), order.allocation_id),
    )
    lockers.release_for(conn, order.allocation_id, now)


# -- reading ------------------------------------------------------------------------------------

_COLUMNS = (
    "order_id, allocation_id, method, customer_name, status, reason, received_at, "
    "reserved_until, station, parcel_size, location_kind, location_id, ready_at, "
    "pickup_expires_at, last_pick_message, ship_address"
)


def find(conn: sqlite3.Connection, allocation_id: str) -> StoreOrder | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM online_order WHERE allocation_id = ?",  # noqa: S608
        (allocation_id,),
    ).fetchone()
    return _order(conn, row) if row else None


def latest(conn: sqlite3.Connection, order_id: str) -> StoreOrder:
    """This store's newest allocation of ``order_id`` (``UnknownOrder`` if none)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM online_order WHERE order_id = ? "  # noqa: S608
        "ORDER BY status IN ('accepted', 'picking', 'packed', 'ready') DESC, received_at DESC "
        "LIMIT 1",
        (order_id,),
    ).fetchone()
    if row is None:
        raise UnknownOrder(f"no order {order_id} at this store")
    return _order(conn, row)


def active(conn: sqlite3.Connection, order_id: str) -> StoreOrder:
    """The open allocation of ``order_id``; ``WrongOrderState`` if it is finished."""
    order = latest(conn, order_id)
    if order.status not in OPEN_STATUSES:
        raise WrongOrderState(f"order {order_id} is {order.status}")
    return order


def listing(
    conn: sqlite3.Connection,
    statuses: tuple[str, ...] = OPEN_STATUSES,
    limit: int | None = 200,
) -> list[StoreOrder]:
    """Orders in ``statuses``, oldest first (``limit`` None: all of them, for the jobs)."""
    marks = ",".join("?" * len(statuses))
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM online_order WHERE status IN ({marks}) "  # noqa: S608
        "ORDER BY received_at LIMIT ?",
        (*statuses, -1 if limit is None else limit),
    ).fetchall()
    return [_order(conn, row) for row in rows]


def _order(conn: sqlite3.Connection, row: tuple[object, ...]) -> StoreOrder:
    fields = dict(zip(_COLUMNS.replace(" ", "").split(","), row, strict=True))
    for stamp in ("received_at", "reserved_until", "ready_at", "pickup_expires_at"):
        value = fields[stamp]
        fields[stamp] = parse(value) if isinstance(value, str) else None
    address = fields["ship_address"]
    fields["ship_address"] = (
        ShippingAddress.model_validate_json(address) if isinstance(address, str) else None
    )
    lines = [
        OrderLineView(line_no=n, sku=sku, name=name, quantity=q, picked=p)
        for n, sku, name, q, p in conn.execute(
            "SELECT line_no, sku, name, quantity, picked FROM order_line "
            "WHERE allocation_id = ? ORDER BY line_no",
            (fields["allocation_id"],),
        )
    ]
    return StoreOrder.model_validate({**fields, "lines": lines})
