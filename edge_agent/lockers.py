"""Locker compartments: which exist, how big, and what each holds.

Compartments come from the locker boards in the devices file (``compartments``: printed lock
number -> size S/M/L) and are kept in ``compartment`` so their state survives a restart. States::

    free -> assigned -> loading -> occupied -> collecting -> free
             (packed)  (door open   (door closed  (opened for
                       for staff)   on the parcel) the customer)
    occupied/loading -> retrieval -> emptying -> free     (expired or cancelled order)
    collecting/emptying -> attention                      (closed with something inside)

A packed order gets the smallest free compartment that fits its parcel; none free means the
pickup shelf. A compartment whose lock or board is no longer configured is taken out of service,
never deleted (the door audit refers to it). Pure table code over the caller's transaction;
``locker_watch`` moves states on door sensor readings and ``pickup`` on opened doors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from edge_agent.clock import iso, parse
from storelink_contract.orders import PARCEL_SIZES, ParcelSize

_RANK = {size: n for n, size in enumerate(PARCEL_SIZES)}
_SIZE_ORDER = "CASE size WHEN 'S' THEN 0 WHEN 'M' THEN 1 ELSE 2 END"


@dataclass(frozen=True, slots=True)
class Compartment:
    compartment_id: str
    board_device: str
    lock: int  # 0-15 on the wire; the door label is lock + 1
    size: str
    state: str
    allocation_id: str | None
    door_open_since: datetime | None
    door_alerted: bool
    unconfirmed: bool
    in_service: bool

    @property
    def label(self) -> str:
        return f"{self.board_device} door {self.lock + 1}"


@dataclass(frozen=True, slots=True)
class BoardLayout:
    """One board's compartments from the devices file: door number (1-16) -> size."""

    board_device: str
    sizes: dict[int, ParcelSize]


def compartment_id(board_device: str, door: int) -> str:
    return f"{board_device}-{door:02d}"


def sync_layout(conn: sqlite3.Connection, layouts: Iterable[BoardLayout], now: datetime) -> None:
    """Make the table match the configured boards (at start-up)."""
    stamp = iso(now)
    configured: set[str] = set()
    for layout in layouts:
        for door, size in sorted(layout.sizes.items()):
            cid = compartment_id(layout.board_device, door)
            configured.add(cid)
            conn.execute(
                "INSERT INTO compartment (compartment_id, board_device, lock, size, state, "
                "updated_at) VALUES (?, ?, ?, ?, 'free', ?) ON CONFLICT (compartment_id) DO "
                "UPDATE SET size = excluded.size, in_service = 1",
                (cid, layout.board_device, door - 1, size, stamp),
            )
    for (cid,) in conn.execute("SELECT compartment_id FROM compartment").fetchall():
        if cid not in configured:
            conn.execute("UPDATE compartment SET in_service = 0 WHERE compartment_id = ?", (cid,))


def assign(
    conn: sqlite3.Connection, allocation_id: str, parcel: ParcelSize, now: datetime
) -> Compartment | None:
    """The smallest free compartment that fits ``parcel``, now assigned; None when full."""
    fits = [s for s in PARCEL_SIZES if _RANK[s] >= _RANK[parcel]]
    marks = ",".join("?" * len(fits))
    row = conn.execute(
        f"SELECT compartment_id FROM compartment WHERE state = 'free' AND in_service = 1 "  # noqa: S608
        f"AND size IN ({marks}) ORDER BY {_SIZE_ORDER}, compartment_id LIMIT 1",
        fits,
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE compartment SET state = 'assigned', allocation_id = ?, updated_at = ? "
        "WHERE compartment_id = ?",
        (allocation_id, iso(now), row[0]),
    )
    return get(conn, row[0])


def set_state(
    conn: sqlite3.Connection,
    cid: str,
    state: str,
    now: datetime,
    *,
    keep_allocation: bool = True,
    door_open_since: datetime | None = None,
) -> None:
    """Move a compartment to ``state``; ``door_open_since`` starts (or with None clears) the
    open-door clock."""
    conn.execute(
        "UPDATE compartment SET state = ?, door_open_since = ?, door_alerted = 0, "
        "unconfirmed = 0, updated_at = ?, "
        "allocation_id = CASE WHEN ? THEN allocation_id ELSE NULL END WHERE compartment_id = ?",
        (
            state,
            iso(door_open_since) if door_open_since else None,
            iso(now),
            keep_allocation,
            cid,
        ),
    )


def note_door(
    conn: sqlite3.Connection,
    cid: str,
    *,
    open_since: datetime | None,
    alerted: bool,
    unconfirmed: bool | None = None,
) -> None:
    """Record what the door sensors said without changing the state."""
    conn.execute(
        "UPDATE compartment SET door_open_since = ?, door_alerted = ?, "
        "unconfirmed = coalesce(?, unconfirmed) WHERE compartment_id = ?",
        (iso(open_since) if open_since else None, int(alerted), unconfirmed, cid),
    )


def release_for(conn: sqlite3.Connection, allocation_id: str, now: datetime) -> None:
    """The order no longer needs its compartment: an empty one is freed, one that may hold the
    parcel is flagged for staff to empty. A compartment being collected from is left to the
    door sensor."""
    stamp = iso(now)
    conn.execute(
        "UPDATE compartment SET state = 'free', allocation_id = NULL, updated_at = ? "
        "WHERE allocation_id = ? AND state = 'assigned'",
        (stamp, allocation_id),
    )
    conn.execute(
        "UPDATE compartment SET state = 'retrieval', updated_at = ? "
        "WHERE allocation_id = ? AND state IN ('loading', 'occupied')",
        (stamp, allocation_id),
    )


def any_in_service(conn: sqlite3.Connection) -> bool:
    """Whether this store has lockers for orders at all (full ones count: the shelf helps)."""
    return (
        conn.execute("SELECT 1 FROM compartment WHERE in_service = 1 LIMIT 1").fetchone()
        is not None
    )


def get(conn: sqlite3.Connection, cid: str) -> Compartment | None:
    row = conn.execute(f"{_SELECT} WHERE compartment_id = ?", (cid,)).fetchone()
    return _compartment(row) if row else None


def of_allocation(conn: sqlite3.Connection, allocation_id: str) -> Compartment | None:
    row = conn.execute(
        f"{_SELECT} WHERE allocation_id = ? ORDER BY updated_at DESC LIMIT 1",
        (allocation_id,),
    ).fetchone()
    return _compartment(row) if row else None


def on_board(conn: sqlite3.Connection, board_device: str) -> list[Compartment]:
    rows = conn.execute(
        f"{_SELECT} WHERE board_device = ? ORDER BY lock", (board_device,)
    ).fetchall()
    return [_compartment(r) for r in rows]


def every(conn: sqlite3.Connection) -> list[Compartment]:
    rows = conn.execute(f"{_SELECT} ORDER BY compartment_id").fetchall()
    return [_compartment(r) for r in rows]


_SELECT = (
    "SELECT compartment_id, board_device, lock, size, state, allocation_id, door_open_since, "
    "door_alerted, unconfirmed, in_service FROM compartment"
)


def _compartment(row: tuple[object, ...]) -> Compartment:
    cid, board, lock, size, state, alloc, since, alerted, unconfirmed, in_service = row
    return Compartment(
        compartment_id=str(cid),
        board_device=str(board),
        lock=int(str(lock)),
        size=str(size),
        state=str(state),
        allocation_id=str(alloc) if alloc is not None else None,
        door_open_since=parse(since) if isinstance(since, str) else None,
        door_alerted=bool(alerted),
        unconfirmed=bool(unconfirmed),
        in_service=bool(in_service),
    )
