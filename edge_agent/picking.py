"""Picking and packing by staff: every item is confirmed by scanning it.

A picker takes an order from the pick list, optionally binding a pack-station scanner to it
(``start_picking``); each scan (from that scanner, or from a handheld through the API) must be
an item of the order still to pick, or it is refused with the reason: wrong item, or already
picked in full. When everything is picked the parcel is packed: a locker-pickup order gets the
smallest free compartment that fits and a staff load code; otherwise (or with the lockers full)
the parcel goes to the pickup shelf and is ready at once. Ship-from-store orders are shipped.

Runs inside the caller's write transaction; refusals are returned (and remembered on the order
for the pick screen) rather than raised, so the record of the refusal commits.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from edge_agent import (
    alerts,
    catalog,
    credentials,
    fulfilment,
    ledger,
    lockers,
    outbox,
    reservations,
)
from edge_agent.clock import iso
from edge_agent.fulfilment import StoreOrder, WrongOrderState
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.common import DeltaReason, StockDelta
from storelink_contract.events import StockReceived
from storelink_contract.order_events import OrderProgressed
from storelink_contract.orders import SHIPPED_METHODS, ParcelSize, PickupLocation

SHELF = PickupLocation(kind="shelf", location_id="pickup-shelf", label="Pickup counter")


@dataclass(frozen=True, slots=True)
class PickOutcome:
    accepted: bool
    message: str
    order: StoreOrder


class PackResult(BaseModel):
    order: StoreOrder
    location: PickupLocation | None = None
    """Where the parcel goes; none for a shipment (it waits for the carrier)."""
    load_code: str | None = None
    """For a locker: the staff code that opens the compartment (printed on the parcel label)."""


def start_picking(
    conn: sqlite3.Connection, order_id: str, station: str | None, now: datetime
) -> StoreOrder:
    """A picker takes the order; scans from ``station`` (a scanner's device id) now pick it."""
    order = fulfilment.active(conn, order_id)
    if order.status not in ("accepted", "picking"):
        raise WrongOrderState(f"order {order_id} is {order.status}: picking is over")
    if station is not None:
        conn.execute(
            "UPDATE online_order SET station = NULL WHERE station = ? AND allocation_id != ?",
            (station, order.allocation_id),
        )
    conn.execute(
        "UPDATE online_order SET station = ?, updated_at = ? WHERE allocation_id = ?",
        (station, iso(now), order.allocation_id),
    )
    _to_picking(conn, order, now)
    return fulfilment.latest(conn, order_id)


def pick(
    conn: sqlite3.Connection, order_id: str, code: str, quantity: int, now: datetime
) -> PickOutcome:
    """Confirm ``quantity`` of the item scanned as ``code`` (a GTIN or a sku)."""
    order = fulfilment.active(conn, order_id)
    if order.status not in ("accepted", "picking"):
        raise WrongOrderState(f"order {order_id} is {order.status}: picking is over")
    message = _check_pick(conn, order, code, quantity)
    if message is not None:
        _remember(conn, order, f"refused: {message}", now)
        return PickOutcome(False, message, fulfilment.latest(conn, order_id))
    product = catalog.find(conn, code)
    assert product is not None
    line = next(n for n in order.lines if n.sku == product.sku and n.picked < n.quantity)
    conn.execute(
        "UPDATE order_line SET picked = picked + ? WHERE allocation_id = ? AND line_no = ?",
        (quantity, order.allocation_id, line.line_no),
    )
    _to_picking(conn, order, now)
    left = order.to_pick - quantity
    message = f"picked {quantity} x {line.name}; " + (
        f"{left} item(s) to go" if left else "all picked: pack it"
    )
    _remember(conn, order, message, now)
    return PickOutcome(True, message, fulfilment.latest(conn, order_id))


def pick_at_station(
    conn: sqlite3.Connection, station: str, code: str, now: datetime
) -> PickOutcome | None:
    """A scan from a pack-station scanner: picks one unit for the order bound to it (None when
    no order is being picked there)."""
    row = conn.execute(
        "SELECT order_id FROM online_order WHERE station = ? AND status IN ('accepted', 'picking')",
        (station,),
    ).fetchone()
    if row is None:
        return None
    return pick(conn, str(row[0]), code, 1, now)


def _check_pick(
    conn: sqlite3.Connection, order: StoreOrder, code: str, quantity: int
) -> str | None:
    product = catalog.find(conn, code)
    if product is None:
        return f"{code} is not a product this store knows"
    lines = [n for n in order.lines if n.sku == product.sku]
    if not lines:
        return f"{product.name} ({product.sku}) is not on order {order.order_id}"
    wanted = sum(n.quantity for n in lines)
    picked = sum(n.picked for n in lines)
    if picked + quantity > wanted:
        return f"{product.name}: {picked} of {wanted} already picked, no more are needed"
    return None


def _to_picking(conn: sqlite3.Connection, order: StoreOrder, now: datetime) -> None:
    if order.status != "accepted":
        return
    conn.execute(
        "UPDATE online_order SET status = 'picking', updated_at = ? WHERE allocation_id = ?",
        (iso(now), order.allocation_id),
    )
    outbox.append(
        conn,
        OrderProgressed(
            at=now, order_id=order.order_id, allocation_id=order.allocation_id, status="picking"
        ),
    )


def _remember(conn: sqlite3.Connection, order: StoreOrder, message: str, now: datetime) -> None:
    conn.execute(
        "UPDATE online_order SET last_pick_message = ?, updated_at = ? WHERE allocation_id = ?",
        (message[:300], iso(now), order.allocation_id),
    )


def pack(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    order_id: str,
    parcel: ParcelSize,
    now: datetime,
) -> PackResult:
    """Everything is picked: give the parcel its place (a compartment or the shelf)."""
    order = fulfilment.active(conn, order_id)
    if order.status not in ("accepted", "picking"):
        raise WrongOrderState(f"order {order_id} is {order.status}: it was packed already")
    if order.to_pick:
        raise WrongOrderState(f"order {order_id}: {order.to_pick} item(s) still to pick")
    conn.execute(
        "UPDATE online_order SET status = 'packed', parcel_size = ?, station = NULL, "
        "updated_at = ? WHERE allocation_id = ?",
        (parcel, iso(now), order.allocation_id),
    )
    ids = {"order_id": order.order_id, "allocation_id": order.allocation_id}
    outbox.append(conn, OrderProgressed(at=now, status="packed", parcel_size=parcel, **ids))
    if order.method in SHIPPED_METHODS:
        return PackResult(order=fulfilment.latest(conn, order_id))
    compartment = (
        lockers.assign(conn, order.allocation_id, parcel, now)
        if order.method == "locker_pickup"
        else None
    )
    if compartment is None:
        # Counter pickup and curbside always use the shelf; a locker order does when every
        # compartment that fits is taken (it is ready now, collected at the counter).
        fulfilment.mark_ready(conn, policy, order, SHELF, now)
        return PackResult(order=fulfilment.latest(conn, order_id), location=SHELF)
    location = PickupLocation(
        kind="locker", location_id=compartment.compartment_id, label=compartment.label
    )
    _place(conn, order, location, now)
    return PackResult(
        order=fulfilment.latest(conn, order_id),
        location=location,
        load_code=_load_code(conn, policy, order, now),
    )


def new_load_code(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, order_id: str, now: datetime
) -> PackResult:
    """A fresh load code for a packed order waiting for its compartment (a lost label);
    the old code stops working."""
    order = fulfilment.active(conn, order_id)
    compartment = lockers.of_allocation(conn, order.allocation_id)
    if (
        order.status != "packed"
        or compartment is None
        or compartment.state
        not in (
            "assigned",
            "loading",
        )
    ):
        raise WrongOrderState(f"order {order_id} is not waiting to be loaded ({order.status})")
    location = PickupLocation(
        kind="locker", location_id=compartment.compartment_id, label=compartment.label
    )
    return PackResult(
        order=order, location=location, load_code=_load_code(conn, policy, order, now)
    )


def _load_code(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, order: StoreOrder, now: datetime
) -> str:
    # Good for as long as the order may wait to be loaded: until its reservation runs out.
    until = order.reserved_until or now + policy.pick_deadline
    return credentials.issue_load_code(conn, policy.code_key, order.allocation_id, until, now)


def ship(
    conn: sqlite3.Connection, order_id: str, carrier: str, tracking: str, now: datetime
) -> StoreOrder:
    """The parcel leaves with the carrier (to the customer, or to the store they collect
    at): the units leave on-hand."""
    order = fulfilment.active(conn, order_id)
    if order.method not in SHIPPED_METHODS:
        raise WrongOrderState(f"order {order_id} is for {order.method}, not shipping")
    if order.status != "packed":
        raise WrongOrderState(f"order {order_id} is {order.status}: pack it before shipping")
    reservations.close(conn, order.owner, "fulfilled", now)
    reason: DeltaReason = "transfer" if order.method == "ship_to_store" else "fulfilment"
    deltas = [
        StockDelta(sku=sku, delta=-q, reason=reason) for sku, q in sorted(_units(order).items())
    ]
    ledger.post(conn, deltas, f"order:{order.order_id}", now)
    conn.execute(
        "UPDATE online_order SET status = 'shipped', reason = ?, updated_at = ? "
        "WHERE allocation_id = ?",
        (f"{carrier} {tracking}".strip(), iso(now), order.allocation_id),
    )
    outbox.append(
        conn,
        OrderProgressed(
            at=now,
            deltas=tuple(deltas),
            order_id=order.order_id,
            allocation_id=order.allocation_id,
            status="shipped",
            tracking=f"{carrier} {tracking}".strip()[:100],
        ),
    )
    return fulfilment.latest(conn, order_id)


def receive_transfer(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, order_id: str, now: datetime
) -> StoreOrder:
    """A ship-to-store parcel arrived from the store that picked it: its units join on-hand
    here (a ``transfer`` receipt), held for the customer, and the parcel goes on the shelf."""
    order = fulfilment.latest(conn, order_id)
    (inbound_from,) = conn.execute(
        "SELECT inbound_from FROM online_order WHERE allocation_id = ?", (order.allocation_id,)
    ).fetchone()
    if order.status != "incoming" and not (inbound_from and order.status == "released"):
        raise WrongOrderState(f"order {order_id} is {order.status}, not on its way here")
    units = _units(order)
    deltas = [StockDelta(sku=s, delta=q, reason="transfer") for s, q in sorted(units.items())]
    ledger.post(conn, deltas, f"transfer:{order.order_id}", now)
    outbox.append(
        conn,
        StockReceived(at=now, deltas=tuple(deltas), receipt_id=f"transfer-{order.allocation_id}"),
    )
    if order.status == "released":
        # Cancelled on the way: the goods are here all the same, as ordinary stock.
        conn.execute(
            "UPDATE online_order SET inbound_from = NULL WHERE allocation_id = ?",
            (order.allocation_id,),
        )
        alerts.raise_alert(
            conn,
            "transfer_after_cancel",
            f"the parcel of cancelled order {order_id} arrived: its units are back in stock",
            now,
            subject=order_id,
        )
        return fulfilment.latest(conn, order_id)
    reservations.hold(conn, order.owner, units, now + policy.pickup_hold, now)
    fulfilment.mark_ready(conn, policy, order, SHELF, now)
    return fulfilment.latest(conn, order_id)


def _units(order: StoreOrder) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in order.lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def _place(
    conn: sqlite3.Connection, order: StoreOrder, location: PickupLocation, now: datetime
) -> None:
    conn.execute(
        "UPDATE online_order SET location_kind = ?, location_id = ?, updated_at = ? "
        "WHERE allocation_id = ?",
        (location.kind, location.location_id, iso(now), order.allocation_id),
    )


def pick_list(conn: sqlite3.Connection) -> list[StoreOrder]:
    """Orders to pick, oldest first (those with the nearest reservation deadline first)."""
    orders = fulfilment.listing(conn, ("accepted", "picking"))
    return sorted(orders, key=lambda o: (o.reserved_until or o.received_at, o.order_id))
