"""Reservations: units held for an owner (an online order, a kiosk cart) until an expiry.

A reservation is ``held`` until it is ``fulfilled`` (the units left with the customer),
``released`` (the owner gave them up) or ``expired`` (a scheduled job found it past its time);
it is never left dangling. ``stock.reserved`` is the running sum of held quantities, kept in the
same transaction as every reservation change (like ``stock.on_hand`` with the ledger), so
available-to-promise stays one primary-key read: on-hand - reserved - safety stock.

All functions run inside the caller's write transaction. Owners are strings such as
``order:<allocation id>`` or ``cart:<cart id>``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from edge_agent.clock import iso


def available(conn: sqlite3.Connection, sku: str, keep_back: int | None = None) -> int:
    """Units of ``sku`` this store can still promise (never below zero); ``keep_back``
    replaces the store's safety stock (an online order routed under a method's own level)."""
    row = conn.execute(
        "SELECT coalesce(s.on_hand, 0) - coalesce(s.reserved, 0), coalesce(ss.quantity, 0) "
        "FROM (SELECT ? AS sku) k LEFT JOIN stock s ON s.sku = k.sku "
        "LEFT JOIN safety_stock ss ON ss.sku = k.sku",
        (sku,),
    ).fetchone()
    safety = int(row[1]) if keep_back is None else keep_back
    return max(0, int(row[0]) - safety)


def shortfalls(
    conn: sqlite3.Connection, wanted: dict[str, int], keep_back: dict[str, int] | None = None
) -> dict[str, int]:
    """For each sku that cannot be promised in full, what can be (empty when all can)."""
    short = {}
    for sku, quantity in wanted.items():
        have = available(conn, sku, (keep_back or {}).get(sku))
        if have < quantity:
            short[sku] = have
    return short


def hold(
    conn: sqlite3.Connection,
    owner: str,
    quantities: dict[str, int],
    expires_at: datetime,
    now: datetime,
) -> None:
    """Reserve ``quantities`` for ``owner`` (the caller has checked they are available)."""
    stamp = iso(now)
    for sku, quantity in quantities.items():
        conn.execute(
            "INSERT INTO reservation (owner, sku, quantity, state, expires_at, created_at) "
            "VALUES (?, ?, ?, 'held', ?, ?)",
            (owner, sku, quantity, iso(expires_at), stamp),
        )
        _add_reserved(conn, sku, quantity, stamp)


def extend(conn: sqlite3.Connection, owner: str, expires_at: datetime) -> None:
    """Move the expiry of ``owner``'s held reservations (an order made ready gets its hold)."""
    conn.execute(
        "UPDATE reservation SET expires_at = ? WHERE owner = ? AND state = 'held'",
        (iso(expires_at), owner),
    )


def close(
    conn: sqlite3.Connection, owner: str, state: str, now: datetime, sku: str | None = None
) -> dict[str, int]:
    """End ``owner``'s held reservations (of ``sku`` only, if given) as ``fulfilled``,
    ``released`` or ``expired``; return the quantities that were held, per sku."""
    if state not in ("fulfilled", "released", "expired"):
        raise ValueError(f"a reservation cannot end as {state!r}")
    rows = conn.execute(
        "UPDATE reservation SET state = ?, closed_at = ? WHERE owner = ? AND state = 'held' "
        "AND (? IS NULL OR sku = ?) RETURNING sku, quantity",
        (state, iso(now), owner, sku, sku),
    ).fetchall()
    released: dict[str, int] = {}
    for held_sku, quantity in rows:
        released[held_sku] = released.get(held_sku, 0) + int(quantity)
    stamp = iso(now)
    for held_sku, quantity in released.items():
        _add_reserved(conn, held_sku, -quantity, stamp)
    return released


def held_by(conn: sqlite3.Connection, owner: str) -> dict[str, int]:
    return {
        sku: int(q)
        for sku, q in conn.execute(
            "SELECT sku, sum(quantity) FROM reservation WHERE owner = ? AND state = 'held' "
            "GROUP BY sku",
            (owner,),
        )
    }


def due(conn: sqlite3.Connection, now: datetime, prefix: str) -> list[str]:
    """Owners starting with ``prefix`` that hold reservations past their expiry."""
    return [
        owner
        for (owner,) in conn.execute(
            "SELECT DISTINCT owner FROM reservation WHERE state = 'held' AND expires_at <= ? "
            "AND owner LIKE ? ORDER BY owner",
            (iso(now), prefix + "%"),
        )
    ]


def _add_reserved(conn: sqlite3.Connection, sku: str, quantity: int, stamp: str) -> None:
    # A reservation can exist for a sku with no stock row yet (never received): create it at
    # zero on-hand, so the running sum has somewhere to live.
    conn.execute(
        "INSERT INTO stock (sku, on_hand, updated_at, reserved) VALUES (?, 0, ?, ?) "
        "ON CONFLICT (sku) DO UPDATE SET reserved = reserved + excluded.reserved",
        (sku, stamp, quantity),
    )


def check_invariant(conn: sqlite3.Connection, skus: Iterable[str] | None = None) -> list[str]:
    """Skus whose ``stock.reserved`` differs from the sum of held reservations (for tests and
    the operator's consistency check); empty when everything agrees."""
    rows = conn.execute(
        "SELECT s.sku, s.reserved, coalesce(sum(r.quantity), 0) FROM stock s "
        "LEFT JOIN reservation r ON r.sku = s.sku AND r.state = 'held' GROUP BY s.sku"
    ).fetchall()
    wanted = set(skus) if skus is not None else None
    return [
        sku for sku, kept, summed in rows if kept != summed and (wanted is None or sku in wanted)
    ]
