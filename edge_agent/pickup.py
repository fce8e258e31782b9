"""Codes and QR tokens at the locker and the counter: which door they open, and what for.

``LockerDesk`` is what the locker keypad, the kiosk, the locker camera and the staff counter
call. A keypad code is either a staff load code (opens the assigned compartment to load the
parcel) or a customer pickup code (opens the compartment holding the parcel: the order is
collected). A QR token works like the pickup code. Everything here works with the hub
unreachable: codes are checked against the store's own keyed hashes.

Abuse: every wrong, used or expired code counts against the terminal (and the order, when the
customer named it); a lockout refuses everything at that terminal for a while and raises an
alert (``attempts``). An expired or used code never opens a door. Each request runs in three
steps: check the code (one transaction, which also records a failure), open the door (bus I/O,
no transaction: ``doors``), record what the opened door means (one transaction).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from edge_agent import alerts, attempts, credentials, fulfilment, locker_watch, lockers
from edge_agent.attempts import Lockout
from edge_agent.db import StoreDB
from edge_agent.doors import DoorOpener, DoorOutcome, Purpose, audit
from edge_agent.errors import StoreError
from edge_agent.lockers import Compartment
from edge_agent.policy import FulfilmentPolicy


class CodeRefused(StoreError):
    """A wrong, used or expired code (or QR); the message says which, without naming orders."""


class LockedOut(StoreError):
    """Too many wrong codes; nothing is checked until ``lockout.until``."""

    def __init__(self, lockout: Lockout, now: datetime) -> None:
        super().__init__(lockout.message(now))
        self.retry_after_s = lockout.retry_after_s(now)


class NotHere(StoreError):
    """A valid code, but nothing to open for it now (not ready yet, or at the counter)."""


class DoorProblem(StoreError):
    """The door could not be opened, or the board did not confirm it; staff are alerted."""


class DoorResult(BaseModel):
    """What the terminal shows: which door opened, and why."""

    order_id: str | None
    compartment_id: str
    door: str
    purpose: Purpose
    confirmed_by: str
    message: str


@dataclass(frozen=True, slots=True)
class _Target:
    compartment: Compartment
    purpose: Purpose
    order: fulfilment.StoreOrder | None
    credential_id: int | None = None


class LockerDesk:
    """One per agent; safe to call from the API threads and device threads at once."""

    def __init__(
        self,
        db: StoreDB,
        policy: FulfilmentPolicy,
        opener: DoorOpener,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._policy = policy
        self._opener = opener
        self._clock = clock
        #: Attempts refused during a lockout, per scope (for the staff page; not worth a commit).
        self.refused: Counter[attempts.Scope] = Counter()

    # -- entry points ---------------------------------------------------------------------------

    def enter_code(self, device_id: str, code: str, order_id: str | None = None) -> DoorResult:
        """A code typed at a locker keypad or kiosk: a staff load code or a pickup code."""
        return self._redeem(
            device_id,
            order_id,
            lambda conn: credentials.find_code(conn, self._policy.code_key, code),
        )

    def show_qr(self, device_id: str, qr: str) -> DoorResult:
        """A QR shown to the locker camera (or a terminal's scanner)."""
        issuer = credentials.qr_store(qr)
        if issuer is None:
            raise CodeRefused("that is not a StoreLink pickup QR code")
        if issuer != self._policy.store_id:
            raise CodeRefused(f"this QR code is for collection at store {issuer}")
        return self._redeem(
            device_id, None, lambda conn: credentials.find_qr(conn, self._policy.code_key, qr)
        )

    def hand_over(self, device_id: str, code: str | None, qr: str | None) -> fulfilment.StoreOrder:
        """Staff at the counter check the customer's code or QR and hand the parcel over."""
        now = self._clock()
        self._refuse_if_locked(device_id, None, now)
        with self._db.write() as conn:
            found = _lookup(conn, self._policy, code, qr)
            refusal = self._check(conn, device_id, None, found, now, counter=True)
            if refusal is None and found is not None:
                order = fulfilment.find(conn, found.allocation_id)
                assert order is not None
                fulfilment.mark_collected(conn, order, "counter", device_id, now)
                return fulfilment.latest(conn, order.order_id)
        raise refusal or CodeRefused("that code is not valid")

    def open_for_staff(self, device_id: str, compartment_id: str, purpose: Purpose) -> DoorResult:
        """Staff open a compartment to empty it (``retrieval``) or to service it."""
        with self._db.write() as conn:
            compartment = lockers.get(conn, compartment_id)
        if compartment is None:
            raise NotHere(f"no compartment {compartment_id}")
        if purpose == "retrieval" and compartment.state not in ("retrieval", "attention"):
            raise NotHere(f"{compartment.label} has nothing to retrieve ({compartment.state})")
        order = None
        if compartment.allocation_id is not None:
            with self._db.write() as conn:
                order = fulfilment.find(conn, compartment.allocation_id)
        return self._open(_Target(compartment, purpose, order), device_id)

    def settle(self, device_id: str, compartment_id: str, parcel_inside: bool) -> str:
        """A manager says what is behind a door whose unlock was never confirmed (the board
        went quiet, and it has no item sensor to tell)."""
        with self._db.write() as conn:
            compartment = lockers.get(conn, compartment_id)
            if compartment is None:
                raise NotHere(f"no compartment {compartment_id}")
            if not compartment.unconfirmed:
                raise NotHere(f"{compartment.label} has no unconfirmed unlock to settle")
            return locker_watch.settle_unconfirmed(
                conn, self._policy, compartment, parcel_inside, device_id, self._clock()
            )

    # -- the three steps ------------------------------------------------------------------------

    def _redeem(
        self,
        device_id: str,
        order_id: str | None,
        lookup: Callable[[sqlite3.Connection], credentials.Credential | None],
    ) -> DoorResult:
        now = self._clock()
        self._refuse_if_locked(device_id, order_id, now)
        with self._db.write() as conn:
            found = lookup(conn)
            refusal = self._check(conn, device_id, order_id, found, now)
            target = None if refusal is not None or found is None else _target(conn, found)
        if refusal is not None:
            raise refusal  # after the commit: the failure count must stick
        if isinstance(target, StoreError):
            raise target
        assert target is not None
        return self._open(target, device_id)

    def _refuse_if_locked(self, device_id: str, order_id: str | None, now: datetime) -> None:
        """Refuse at once, without a write, while a lockout is in force."""
        lockout = attempts.locked(self._db.read(), _scopes(device_id, order_id), now)
        if lockout is not None:
            self.refused[(lockout.scope, lockout.key)] += 1
            raise LockedOut(lockout, now)

    def _check(
        self,
        conn: sqlite3.Connection,
        device_id: str,
        order_id: str | None,
        found: credentials.Credential | None,
        now: datetime,
        *,
        counter: bool = False,
    ) -> StoreError | None:
        scopes = _scopes(device_id, order_id)
        # Again (another request may have just locked), and for the order the code belongs
        # to: a locked order stays shut to its right code typed without naming the order.
        owner = _owner(conn, found)
        checked = scopes if owner is None or owner == order_id else [*scopes, ("order", owner)]
        lockout = attempts.locked(conn, checked, now)
        if lockout is not None:
            return LockedOut(lockout, now)
        problem = _problem(conn, found, order_id, now, counter=counter)
        if problem is None or isinstance(problem, NotHere):
            return problem  # a good code for an order not ready yet is no guess
        started = attempts.record_failure(conn, self._policy, scopes, now)
        for lock in started:
            alerts.raise_alert(
                conn,
                "pickup_lockout",
                f"{self._policy.wrong_codes_allowed} wrong pickup codes: "
                f"{'terminal' if lock.scope == 'device' else 'order'} {lock.key} is "
                f"locked until {lock.until:%H:%M} UTC",
                now,
                subject=lock.key,
            )
        return LockedOut(started[0], now) if started else problem

    def _open(self, target: _Target, actor: str) -> DoorResult:
        def recheck() -> Compartment:
            return _unchanged(self._db.read(), target)

        outcome = self._opener.open(
            target.compartment, pickup=target.purpose == "pickup", recheck=recheck
        )
        now = self._clock()
        order_id = target.order.order_id if target.order else None
        with self._db.write() as conn:
            audit(conn, target.compartment, target.purpose, actor, order_id, outcome, now)
            if outcome.opened:
                message = self._opened(conn, target, actor, outcome, now)
            else:
                message = _trouble(conn, target, outcome, now)
        if not outcome.opened:
            raise DoorProblem(message)
        return DoorResult(
            order_id=order_id,
            compartment_id=target.compartment.compartment_id,
            door=target.compartment.label,
            purpose=target.purpose,
            confirmed_by=outcome.confirmed_by,
            message=message,
        )

    def _opened(
        self,
        conn: sqlite3.Connection,
        target: _Target,
        actor: str,
        outcome: DoorOutcome,
        now: datetime,
    ) -> str:
        c = target.compartment
        match target.purpose:
            case "load":
                lockers.set_state(conn, c.compartment_id, "loading", now, door_open_since=now)
                return f"{c.label} is open: put the parcel in and close the door"
            case "pickup":
                assert target.order is not None
                if target.credential_id is not None and not credentials.claim(
                    conn, target.credential_id, now
                ):
                    # Another request with this code (the QR at the camera, a double tap)
                    # recorded the pickup first: this open is the same pickup, nothing more.
                    return f"{c.label} is open: please take your order and close the door"
                if outcome.already_emptied:
                    lockers.set_state(conn, c.compartment_id, "free", now, keep_allocation=False)
                else:
                    lockers.set_state(
                        conn, c.compartment_id, "collecting", now, door_open_since=now
                    )
                fulfilment.mark_collected(conn, target.order, "locker", actor, now)
                return f"{c.label} is open: please take your order and close the door"
            case "retrieval":
                lockers.set_state(conn, c.compartment_id, "emptying", now, door_open_since=now)
                return f"{c.label} is open: take the parcel out and close the door"
        lockers.note_door(conn, c.compartment_id, open_since=now, alerted=False)
        return f"{c.label} is open for maintenance"


def _unchanged(conn: sqlite3.Connection, target: _Target) -> Compartment:
    """The compartment now, if it is as the request was checked against (holding the door)."""
    if target.credential_id is not None and credentials.used(conn, target.credential_id):
        raise CodeRefused("that code was used a moment ago: the door opened for it")
    was = target.compartment
    now = lockers.get(conn, was.compartment_id)
    if now is None or (now.state, now.allocation_id) != (was.state, was.allocation_id):
        raise NotHere(f"{was.label} changed a moment ago ({now.state if now else 'gone'})")
    return now


def _owner(conn: sqlite3.Connection, found: credentials.Credential | None) -> str | None:
    """The order a code or QR token was issued for, if it is one of ours."""
    if found is None:
        return None
    order = fulfilment.find(conn, found.allocation_id)
    return order.order_id if order is not None else None


def _scopes(device_id: str, order_id: str | None) -> list[attempts.Scope]:
    scopes: list[attempts.Scope] = [("device", device_id)]
    if order_id:
        scopes.append(("order", order_id))
    return scopes


def _lookup(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, code: str | None, qr: str | None
) -> credentials.Credential | None:
    if qr is not None:
        return credentials.find_qr(conn, policy.code_key, qr)
    if code is not None:
        return credentials.find_code(conn, policy.code_key, code)
    return None


def _problem(
    conn: sqlite3.Connection,
    found: credentials.Credential | None,
    order_id: str | None,
    now: datetime,
    *,
    counter: bool,
) -> StoreError | None:
    """Why this credential opens nothing (a failure to count), or None when it is good."""
    if found is None:
        return CodeRefused("that code is not valid")
    if counter and found.kind == "load_code":
        return CodeRefused("that is a staff load code, not a pickup code")
    if order_id is not None:
        order = fulfilment.find(conn, found.allocation_id)
        if order is None or order.order_id != order_id:
            return CodeRefused("that code is not valid for this order")
    if found.state == "used":
        return CodeRefused("this code has already been used")
    if found.state == "revoked":
        order = fulfilment.find(conn, found.allocation_id)
        if order is not None and order.status == "released":
            return CodeRefused("this order was cancelled, so there is nothing to collect here")
        return CodeRefused("this code was replaced by a newer one; use the latest code we sent")
    if found.state == "expired" or found.expired(now):
        return CodeRefused("this code has expired; please ask a member of staff")
    if counter:
        order = fulfilment.find(conn, found.allocation_id)
        if order is None or order.status != "ready":
            return NotHere("that order is not ready for collection yet")
    return None


def _target(conn: sqlite3.Connection, found: credentials.Credential) -> _Target | StoreError:
    """The door a good credential opens now, or why there is none (not counted as wrong)."""
    order = fulfilment.find(conn, found.allocation_id)
    if order is None:
        return NotHere("that order is not at this store")
    compartment = lockers.of_allocation(conn, order.allocation_id)
    if found.kind == "load_code":
        if compartment is None or compartment.state not in ("assigned", "loading"):
            return NotHere(f"order {order.order_id} has no compartment waiting to be loaded")
        return _Target(compartment, "load", order)
    if order.status in ("accepted", "picking", "packed"):
        return NotHere("your order is not ready yet; we will tell you when it is")
    if order.status != "ready":
        return NotHere(f"this order is {order.status}")
    if order.location_kind != "locker" or compartment is None or compartment.state != "occupied":
        return NotHere("your order is waiting at the pickup counter: please show this code there")
    return _Target(compartment, "pickup", order, found.id)


def _trouble(conn: sqlite3.Connection, target: _Target, outcome: DoorOutcome, now: datetime) -> str:
    c = target.compartment
    if outcome.opened is None:
        lockers.note_door(
            conn,
            c.compartment_id,
            open_since=c.door_open_since,
            alerted=c.door_alerted,
            unconfirmed=True,
        )
        alerts.raise_alert(
            conn,
            "door_unconfirmed",
            f"{c.label}: {outcome.problem or 'the board did not confirm the unlock'}",
            now,
            subject=c.compartment_id,
            severity="critical",
        )
        return (
            f"the locker did not confirm that {c.label} opened: if it is open, take your "
            "order and close it; otherwise a member of staff will help you"
        )
    alerts.raise_alert(
        conn, "door_not_opened", f"{c.label}: {outcome.problem}", now, subject=c.compartment_id
    )
    return f"{c.label} could not be opened ({outcome.problem}); a member of staff will help you"
