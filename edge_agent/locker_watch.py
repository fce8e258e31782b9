"""What the locker boards' door and item sensors mean for compartments and orders.

Every status a board reports (polled by the device manager, or returned by an unlock) comes
here. A door that closes confirms what the open was for:

- ``loading``: the parcel is in (the item sensor sees it, or the board has none): the order
  is ready and its hold starts; an empty compartment means the load did not happen (alert);
- ``collecting``: the customer has closed the door; the compartment is free again, unless the
  item sensor still sees something (alert: parcel left behind);
- ``emptying``: staff took an expired or cancelled order out.

An unlock the board never confirmed (it went silent after the pulse) is settled by the
sensors: the door seen open on a board without item sensors, or closed again on an empty
compartment, is the customer's pickup; closed on the parcel, it is no pickup at all.

A door open for longer than ``door_open_alert``, or open when no command opened it, raises an
alert once per opening. Most polls change nothing, so the database is written only when a
sensor reading differs from what is recorded.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from devices.locker.protocol import BoardStatus
from edge_agent import alerts, fulfilment, lockers
from edge_agent.db import StoreDB
from edge_agent.lockers import Compartment
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.orders import PickupLocation

_OPENED_ON_PURPOSE = ("loading", "collecting", "emptying")


def on_board_status(
    db: StoreDB, policy: FulfilmentPolicy, board_device: str, status: BoardStatus, now: datetime
) -> None:
    """Apply one board reading taken at ``now`` (device thread, or right after an unlock).

    ``now`` must be when the board was asked, not when the answer is handled: a reading taken
    just before a door was opened must not count as that door having closed again."""
    if not any(
        _needs_write(c, status, policy, now) for c in lockers.on_board(db.read(), board_device)
    ):
        return
    with db.write() as conn:
        for c in lockers.on_board(conn, board_device):
            if c.in_service and _needs_write(c, status, policy, now):
                if c.lock in status.doors_open:
                    _door_open(conn, policy, c, _has_item(c, status), now)
                else:
                    _door_closed(conn, policy, c, _has_item(c, status), now)


def _has_item(c: Compartment, status: BoardStatus) -> bool | None:
    items = status.items_present
    return None if items is None else c.lock in items


def _needs_write(
    c: Compartment, status: BoardStatus, policy: FulfilmentPolicy, now: datetime
) -> bool:
    if not c.in_service:
        return False
    if c.door_open_since is not None and now < c.door_open_since:
        return False  # read before the door was opened: it says nothing about the door now
    if c.lock in status.doors_open:
        if c.door_open_since is None:
            return True
        return not c.door_alerted and now - c.door_open_since >= policy.door_open_alert
    items = status.items_present
    settles = c.unconfirmed and (
        (c.state == "occupied" and items is not None)
        or (c.state == "assigned" and items is not None and c.lock in items)
    )
    return c.door_open_since is not None or c.state in _OPENED_ON_PURPOSE or settles


def _door_open(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    c: Compartment,
    has_item: bool | None,
    now: datetime,
) -> None:
    if c.unconfirmed and c.state == "occupied" and has_item is None:
        # The silent board did open it, and without item sensors the open door is all there
        # is to go by: the customer has it.
        _settle_pickup(conn, c, now)
        lockers.set_state(conn, c.compartment_id, "collecting", now, door_open_since=now)
        return
    if c.unconfirmed and c.state == "assigned":
        # The silent board did open it for the load: staff are loading.
        lockers.set_state(conn, c.compartment_id, "loading", now, door_open_since=now)
        return
    if c.door_open_since is None:
        unexpected = c.state not in _OPENED_ON_PURPOSE and not c.unconfirmed
        if unexpected:
            alerts.raise_alert(
                conn,
                "door_opened_unexpectedly",
                f"{c.label} is open but no code or staff command opened it ({c.state})",
                now,
                subject=c.compartment_id,
                severity="critical" if c.state == "occupied" else "warning",
            )
        lockers.note_door(conn, c.compartment_id, open_since=now, alerted=unexpected)
        return
    minutes = max(1, round((now - c.door_open_since).total_seconds() / 60))
    alerts.raise_alert(
        conn,
        "door_left_open",
        f"{c.label} has been open for {minutes} minute(s) ({c.state})",
        now,
        subject=c.compartment_id,
    )
    lockers.note_door(conn, c.compartment_id, open_since=c.door_open_since, alerted=True)


def _door_closed(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    c: Compartment,
    has_item: bool | None,
    now: datetime,
) -> None:
    cid = c.compartment_id
    if c.state == "occupied" and c.unconfirmed and has_item is not None:
        if has_item:  # shut on the parcel: that unlock gave nobody anything; a retry may pulse
            lockers.note_door(conn, cid, open_since=None, alerted=False, unconfirmed=False)
        else:  # opened (unconfirmed) and emptied: that was the pickup
            _settle_pickup(conn, c, now)
            lockers.set_state(conn, cid, "free", now, keep_allocation=False)
        return
    # Shut on a parcel after a load unlock that was never confirmed: that load happened.
    loaded_unseen = c.state == "assigned" and c.unconfirmed and has_item is True
    if c.state == "loading" or loaded_unseen:
        if has_item is False:
            alerts.raise_alert(
                conn,
                "load_not_confirmed",
                f"{c.label} was closed but reads empty: the parcel is not in; load it again "
                "with the same load code",
                now,
                subject=cid,
            )
            lockers.set_state(conn, cid, "assigned", now)
            return
        lockers.set_state(conn, cid, "occupied", now)
        order = fulfilment.find(conn, c.allocation_id) if c.allocation_id else None
        if order is not None and order.status == "packed":
            location = PickupLocation(kind="locker", location_id=cid, label=c.label)
            fulfilment.mark_ready(conn, policy, order, location, now)
        return
    if c.state in ("collecting", "emptying"):
        if has_item:
            what = "the customer's parcel" if c.state == "collecting" else "something"
            alerts.raise_alert(
                conn,
                "parcel_left_in_locker",
                f"{c.label} was closed with {what} still inside: staff must empty it",
                now,
                subject=cid,
            )
            lockers.set_state(conn, cid, "attention", now)
            return
        lockers.set_state(conn, cid, "free", now, keep_allocation=False)
        return
    lockers.note_door(conn, cid, open_since=None, alerted=False)


def settle_unconfirmed(
    conn: sqlite3.Connection,
    policy: FulfilmentPolicy,
    c: Compartment,
    parcel_inside: bool,
    by: str,
    now: datetime,
) -> str:
    """What staff found at a door whose unlock the board never confirmed, and the sensors
    cannot tell (no item sensor): settle it as the pickup or load that did or did not
    happen. Returns what it concluded."""
    cid = c.compartment_id
    if c.state == "occupied" and not parcel_inside:
        _settle_pickup(conn, c, now)
        lockers.set_state(conn, cid, "free", now, keep_allocation=False)
        found = "the customer has the parcel: the order is collected"
    elif c.state == "assigned" and parcel_inside:
        lockers.set_state(conn, cid, "occupied", now)
        order = fulfilment.find(conn, c.allocation_id) if c.allocation_id else None
        if order is not None and order.status == "packed":
            location = PickupLocation(kind="locker", location_id=cid, label=c.label)
            fulfilment.mark_ready(conn, policy, order, location, now)
        found = "the parcel was loaded: the order is ready"
    else:
        lockers.note_door(conn, cid, open_since=None, alerted=False, unconfirmed=False)
        found = "nothing changed hands: the door may be opened again"
    alerts.raise_alert(
        conn,
        "door_settled",
        f"{c.label}: {by} settled the unconfirmed unlock: {found}",
        now,
        subject=cid,
        severity="info",
    )
    return found


def _settle_pickup(conn: sqlite3.Connection, c: Compartment, now: datetime) -> None:
    order = fulfilment.find(conn, c.allocation_id) if c.allocation_id else None
    if order is not None and order.status == "ready":
        fulfilment.mark_collected(conn, order, "locker", f"{c.board_device}-sensors", now)
