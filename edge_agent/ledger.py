"""The inventory ledger: on-hand per sku is the sum of signed deltas, each with a reason.

``stock`` is the running sum kept in the same transaction as every ledger row, so a lookup is one
primary-key read and the invariant ``stock.on_hand == sum(ledger.delta)`` holds at every commit.
A sale that takes on-hand below zero is recorded anyway (the goods were in the customer's hand)
and the sku is flagged for a count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from edge_agent.clock import iso
from storelink_contract.common import StockDelta


def post(
    conn: sqlite3.Connection, deltas: Sequence[StockDelta], ref: str, at: datetime
) -> list[str]:
    """Write deltas to the ledger and the running on-hand; return skus that went negative."""
    stamp = iso(at)
    conn.executemany(
        "INSERT INTO ledger (sku, delta, reason, ref, at) VALUES (?, ?, ?, ?, ?)",
        [(d.sku, d.delta, d.reason, ref, stamp) for d in deltas],
    )
    negative: list[str] = []
    for d in deltas:
        (on_hand,) = conn.execute(
            "INSERT INTO stock (sku, on_hand, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (sku) DO UPDATE SET on_hand = on_hand + excluded.on_hand, "
            "updated_at = excluded.updated_at RETURNING on_hand",
            (d.sku, d.delta, stamp),
        ).fetchone()
        if on_hand < 0:
            negative.append(d.sku)
    if negative:
        conn.executemany(
            "UPDATE stock SET needs_count = 1 WHERE sku = ?", [(sku,) for sku in negative]
        )
    return sorted(set(negative))


def on_hand_rows(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Every sku's on-hand, for digests and snapshots."""
    return [(sku, int(q)) for sku, q in conn.execute("SELECT sku, on_hand FROM stock ORDER BY sku")]
