"""The scheduled fulfilment job: reminders, expiries, and reservations that ran out.

Run every ``fulfilment_job_interval_s`` by the agent's scheduler (and callable directly from
tests with any ``now``). Each step is one write transaction, so a crash halfway leaves every
order either fully handled or untouched, and the next run picks up the rest:

- a ready order ``reminder_after`` its readiness gets one reminder, and one "expiring" warning
  ``expiring_before`` the end of its hold (the hub turns both into customer notifications);
- a ready order past its hold expires: reservation released, codes dead, a locker compartment
  flagged for staff to empty, and the hub told (it refunds the customer);
- an accepted order not made ready by its reservation's deadline expires the same way;
- a ship-to-store parcel still not arrived by its deadline is not expired (it is on its way,
  and its units are nowhere else): staff and HQ get an alert, once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from edge_agent import alerts, fulfilment, lockers, outbox, reservations
from edge_agent.db import StoreDB
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.order_events import PickupReminderDue

log = logging.getLogger(__name__)


@dataclass
class JobReport:
    reminded: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    carts_released: list[str] = field(default_factory=list)


def run(db: StoreDB, policy: FulfilmentPolicy, now: datetime) -> JobReport:
    report = JobReport()
    with db.write() as conn:
        ready = fulfilment.listing(conn, ("ready",), limit=None)
        for order in ready:
            expires = order.pickup_expires_at
            if expires is None or order.ready_at is None or now >= expires:
                continue
            flags = conn.execute(
                "SELECT reminded, warned FROM online_order WHERE allocation_id = ?",
                (order.allocation_id,),
            ).fetchone()
            due = []
            if not flags[0] and now >= order.ready_at + policy.reminder_after:
                due.append("reminder")
            if not flags[1] and now >= expires - policy.expiring_before:
                due.append("expiring")
            for kind in due:
                outbox.append(
                    conn,
                    PickupReminderDue(
                        at=now,
                        order_id=order.order_id,
                        allocation_id=order.allocation_id,
                        kind="reminder" if kind == "reminder" else "expiring",
                        pickup_expires_at=expires,
                    ),
                )
                column = "reminded" if kind == "reminder" else "warned"
                conn.execute(
                    f"UPDATE online_order SET {column} = 1 WHERE allocation_id = ?",  # noqa: S608
                    (order.allocation_id,),
                )
                (report.reminded if kind == "reminder" else report.warned).append(order.order_id)
    for order in _overdue(db, now):
        if order.status == "incoming":
            _late_parcel(db, order, now)
            continue
        with db.write() as conn:
            current = fulfilment.find(conn, order.allocation_id)
            if current is None or not _past_deadline(current, now):
                continue  # collected, released or made ready meanwhile
            compartment = lockers.of_allocation(conn, current.allocation_id)
            if compartment is not None and compartment.unconfirmed:
                continue  # a door open that nobody confirmed: staff settle it first
            reason = (
                "not collected within the pickup hold"
                if current.status == "ready"
                else "not made ready before its reservation ran out"
            )
            fulfilment.expire(conn, current, reason, now)
            report.expired.append(order.order_id)
            log.info("order %s expired: %s", order.order_id, reason)
    with db.write() as conn:
        for owner in reservations.due(conn, now, "cart:"):
            reservations.close(conn, owner, "expired", now)
            report.carts_released.append(owner.removeprefix("cart:"))
    return report


def _late_parcel(db: StoreDB, order: fulfilment.StoreOrder, now: datetime) -> None:
    with db.write() as conn:
        claimed = conn.execute(
            "UPDATE online_order SET warned = 1 WHERE allocation_id = ? AND warned = 0",
            (order.allocation_id,),
        )
        if claimed.rowcount:
            alerts.raise_alert(
                conn,
                "transfer_late",
                f"the parcel of order {order.order_id} has not arrived from the store that "
                "shipped it; check with that store before the customer comes",
                now,
                subject=order.order_id,
            )


def _overdue(db: StoreDB, now: datetime) -> list[fulfilment.StoreOrder]:
    return [o for o in fulfilment.listing(db.read(), limit=None) if _past_deadline(o, now)]


def _past_deadline(order: fulfilment.StoreOrder, now: datetime) -> bool:
    if order.status not in fulfilment.OPEN_STATUSES:
        return False
    deadline = order.pickup_expires_at if order.status == "ready" else order.reserved_until
    return deadline is not None and now >= deadline
