"""Opening one locker door, safely, and writing down that it happened.

A door is opened only after reading the board's status, and never pulsed twice for one request:

- the door already reads open: nothing is sent (``already_open``);
- an earlier unlock of this compartment was never confirmed (the board went silent after the
  pulse) and the board has no item sensor to tell whether the parcel is still inside: nothing
  is sent, staff must look (a second pulse could reopen a door the customer just shut);
- otherwise one ``open_lock``; the board client confirms by reply or by status and never
  re-sends an unlock on its own (``devices.locker.client``). A board that does not answer at all
  leaves the outcome ``unconfirmed``: the compartment is flagged and the next request reads the
  status first.

The bus I/O runs outside any database transaction (a slow board must not hold the store's write
lock, which sales need). One request per compartment at a time (a double tap gets "busy").
Every attempt is audited (who, why, when, how confirmed); ``pickup`` decides what the opened
door means for the order.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from devices.errors import DeviceError, DeviceTimeout
from devices.locker.client import UnlockResult
from devices.locker.protocol import BoardStatus
from edge_agent import outbox
from edge_agent.clock import iso
from edge_agent.errors import StoreError
from edge_agent.lockers import Compartment
from storelink_contract.order_events import LockerDoorOpened

log = logging.getLogger(__name__)

Purpose = Literal["load", "pickup", "retrieval", "maintenance"]
ConfirmedBy = Literal["reply", "status", "already_open", "unconfirmed"]


class DoorDriver(Protocol):
    """The locker boards on the bus (``locker_bank.BoardsOnBus`` in the agent)."""

    def status(self, board_device: str) -> BoardStatus: ...

    def open(self, board_device: str, lock: int) -> UnlockResult: ...


class DoorBusy(StoreError):
    """Another request is opening this compartment right now."""


@dataclass(frozen=True, slots=True)
class DoorOutcome:
    """What happened at the door. ``opened`` None: unknown (the board went silent)."""

    opened: bool | None
    confirmed_by: ConfirmedBy
    unlock_commands: int
    status: BoardStatus | None
    problem: str = ""
    #: The parcel is known to be gone already (item sensor) after an unconfirmed unlock.
    already_emptied: bool = False


class DoorOpener:
    """Opens compartments one request at a time each."""

    def __init__(self, driver: DoorDriver) -> None:
        self._driver = driver
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def open(
        self,
        compartment: Compartment,
        *,
        pickup: bool,
        recheck: Callable[[], Compartment] | None = None,
    ) -> DoorOutcome:
        """Open ``compartment``. After an unconfirmed unlock a ``pickup`` is not pulsed again
        unless the parcel is known to be inside (the first one may have handed it over); a
        load, a retrieval or maintenance is, as an empty or staffed door can come to no harm.

        ``recheck`` runs once this request holds the door: it returns the compartment as it
        is now, or raises if what the request was checked against has changed meanwhile
        (another request with the same code opened the door and finished first)."""
        with self._guard:
            lock = self._locks.setdefault(compartment.compartment_id, threading.Lock())
        if not lock.acquire(blocking=False):
            raise DoorBusy(f"{compartment.label} is being opened already")
        try:
            return self._open(recheck() if recheck is not None else compartment, pickup)
        finally:
            lock.release()

    def _open(self, c: Compartment, pickup: bool) -> DoorOutcome:
        try:
            status = self._driver.status(c.board_device)
        except DeviceError as exc:
            return DoorOutcome(
                None if c.unconfirmed else False,
                "unconfirmed",
                0,
                None,
                f"the locker board does not answer ({exc})",
            )
        if c.lock in status.doors_open:
            return DoorOutcome(True, "already_open", 0, status)
        if c.unconfirmed and pickup:
            items = status.items_present
            if items is None:
                return DoorOutcome(
                    None,
                    "unconfirmed",
                    0,
                    status,
                    f"an earlier unlock of {c.label} was not confirmed and the board cannot "
                    "tell whether the parcel is still inside: staff must check the door",
                )
            if c.lock not in items:
                return DoorOutcome(True, "status", 0, status, already_emptied=True)
        try:
            result = self._driver.open(c.board_device, c.lock)
        except DeviceTimeout as exc:
            return DoorOutcome(None, "unconfirmed", 1, None, str(exc))
        except DeviceError as exc:
            return DoorOutcome(None, "unconfirmed", 1, None, f"lost the board: {exc}")
        if result.opened:
            return DoorOutcome(True, result.confirmed_by, result.unlock_commands, result.status)
        return DoorOutcome(
            False,
            result.confirmed_by,
            result.unlock_commands,
            result.status,
            f"{c.label} did not open (jammed or held shut)",
        )


def audit(
    conn: sqlite3.Connection,
    compartment: Compartment,
    purpose: Purpose,
    actor: str,
    order_id: str | None,
    outcome: DoorOutcome,
    now: datetime,
) -> None:
    """Write the attempt to the door audit; an opened (or possibly opened) door is also an
    event for HQ, in the same transaction."""
    result = "opened" if outcome.opened else "unknown" if outcome.opened is None else "not opened"
    conn.execute(
        "INSERT INTO door_audit (at, compartment_id, purpose, actor, order_id, outcome, "
        "unlock_commands, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            iso(now),
            compartment.compartment_id,
            purpose,
            actor,
            order_id,
            f"{result} ({outcome.confirmed_by})",
            outcome.unlock_commands,
            outcome.problem[:300],
        ),
    )
    if outcome.opened is False:
        return
    outbox.append(
        conn,
        LockerDoorOpened(
            at=now,
            compartment_id=compartment.compartment_id,
            order_id=order_id,
            purpose=purpose,
            actor=actor[:64],
            confirmed_by=outcome.confirmed_by,
        ),
    )
    log.info(
        "door %s %s for %s by %s (%s, %d unlock command(s))",
        compartment.label,
        result,
        purpose,
        actor,
        outcome.confirmed_by,
        outcome.unlock_commands,
    )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    compartment_id: str
    purpose: str
    actor: str
    order_id: str | None
    outcome: str
    unlock_commands: int
    note: str


def audit_log(conn: sqlite3.Connection, limit: int = 200) -> list[AuditEntry]:
    return [
        AuditEntry(*row)
        for row in conn.execute(
            "SELECT id, at, compartment_id, purpose, actor, order_id, outcome, "
            "unlock_commands, note FROM door_audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    ]
