"""Stock coming in (receipts) and corrections (adjustments, counts, damage) by staff.

Both are idempotent on the id the client gives, like sales: the ledger rows, the movement record
and the outbox event commit in one transaction, and a retry returns the first answer.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent import catalog, ledger, outbox
from edge_agent.clock import iso
from edge_agent.errors import IdempotencyConflict, UnknownProduct
from storelink_contract.common import ExternalId, Gtin, Quantity, Sku, StockDelta
from storelink_contract.events import StockAdjusted, StockReceived


class ItemRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku | None = None
    gtin: Gtin | None = None

    @model_validator(mode="after")
    def _names_the_item(self) -> ItemRef:
        if self.sku is None and self.gtin is None:
            raise ValueError("give a sku or a gtin")
        return self


class ReceiptLine(ItemRef):
    quantity: Quantity


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_id: ExternalId = Field(description="Delivery note or transfer id; a retry reuses it")
    lines: list[ReceiptLine] = Field(min_length=1, max_length=1000)


class AdjustmentRequest(ItemRef):
    adjustment_id: ExternalId
    delta: int = Field(ge=-100_000, le=100_000, description="Signed change, never zero")
    reason: Literal["adjustment", "count", "damage"] = "adjustment"
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _changes_something(self) -> AdjustmentRequest:
        if self.delta == 0:
            raise ValueError("delta must not be zero")
        return self


class CountRequest(BaseModel):
    """A cycle count: what was found per sku, for the skus the count covered."""

    model_config = ConfigDict(extra="forbid")

    count_id: ExternalId
    counted: dict[Sku, int] = Field(description="Units found per sku (0 = none found)")
    note: str = Field(default="", max_length=500)
    method: Literal["rfid", "manual"] = "manual"


class MovementResult(BaseModel):
    movement_id: str
    kind: Literal["receipt", "adjustment", "count"]
    deltas: list[StockDelta]
    on_hand: dict[str, int]
    event_seq: int
    replayed: bool = False


def receive_stock(
    conn: sqlite3.Connection, request: ReceiptRequest, now: datetime
) -> MovementResult:
    """Add delivered goods to on-hand (inside the caller's write transaction)."""
    earlier = _earlier(conn, "receipt", request.receipt_id, request)
    if earlier is not None:
        return earlier
    deltas = [
        StockDelta(sku=_sku(conn, line), delta=line.quantity, reason="receipt")
        for line in request.lines
    ]
    ledger.post(conn, deltas, f"receipt:{request.receipt_id}", now)
    seq = outbox.append(
        conn, StockReceived(at=now, deltas=tuple(deltas), receipt_id=request.receipt_id)
    )
    return _remember(conn, "receipt", request.receipt_id, request, deltas, seq, now)


def adjust_stock(
    conn: sqlite3.Connection, request: AdjustmentRequest, now: datetime
) -> MovementResult:
    """Correct on-hand by a signed delta with a reason (inside the caller's transaction)."""
    earlier = _earlier(conn, "adjustment", request.adjustment_id, request)
    if earlier is not None:
        return earlier
    deltas = [StockDelta(sku=_sku(conn, request), delta=request.delta, reason=request.reason)]
    ledger.post(conn, deltas, f"adjustment:{request.adjustment_id}", now)
    if request.reason == "count":
        conn.execute("UPDATE stock SET needs_count = 0 WHERE sku = ?", (deltas[0].sku,))
    seq = outbox.append(
        conn,
        StockAdjusted(
            at=now, deltas=tuple(deltas), adjustment_id=request.adjustment_id, note=request.note
        ),
    )
    return _remember(conn, "adjustment", request.adjustment_id, request, deltas, seq, now)


def record_count(conn: sqlite3.Connection, request: CountRequest, now: datetime) -> MovementResult:
    """Turn a count into ``count`` deltas against on-hand at this moment of the ledger.

    Counted and on-hand are compared inside the write transaction, so a sale committed during
    the count is either before it (in on-hand) or after it (a later delta), never both.
    """
    earlier = _earlier(conn, "count", request.count_id, request)
    if earlier is not None:
        return earlier
    deltas = []
    for sku, found in sorted(request.counted.items()):
        row = conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()
        difference = found - (row[0] if row else 0)
        if difference:
            deltas.append(StockDelta(sku=sku, delta=difference, reason="count"))
    if deltas:
        ledger.post(conn, deltas, f"count:{request.count_id}", now)
    conn.executemany(
        "UPDATE stock SET needs_count = 0 WHERE sku = ?", [(sku,) for sku in request.counted]
    )
    seq = outbox.append(
        conn,
        StockAdjusted(
            at=now,
            deltas=tuple(deltas),
            adjustment_id=request.count_id,
            note=request.note or f"cycle count of {len(request.counted)} skus",
            counted_skus=len(request.counted),
            counted_units=sum(max(0, q) for q in request.counted.values()),
            count_method=request.method,
        ),
    )
    return _remember(
        conn, "count", request.count_id, request, deltas, seq, now, list(request.counted)
    )


def find_movement(
    conn: sqlite3.Connection, kind: Literal["receipt", "adjustment", "count"], movement_id: str
) -> MovementResult | None:
    """The recorded answer for a movement id, if it was recorded (a retry)."""
    row = conn.execute(
        "SELECT response FROM stock_movement WHERE kind = ? AND movement_id = ?",
        (kind, movement_id),
    ).fetchone()
    if row is None:
        return None
    return MovementResult.model_validate_json(row[0]).model_copy(update={"replayed": True})


def _sku(conn: sqlite3.Connection, ref: ItemRef) -> str:
    if ref.sku is not None:
        return ref.sku
    assert ref.gtin is not None
    product = catalog.find(conn, ref.gtin)
    if product is None:
        raise UnknownProduct(f"GTIN {ref.gtin} is not in the catalog")
    return product.sku


def _fingerprint(request: BaseModel) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


def _earlier(
    conn: sqlite3.Connection, kind: str, movement_id: str, request: BaseModel
) -> MovementResult | None:
    row = conn.execute(
        "SELECT request_hash, response FROM stock_movement WHERE kind = ? AND movement_id = ?",
        (kind, movement_id),
    ).fetchone()
    if row is None:
        return None
    if row[0] != _fingerprint(request):
        raise IdempotencyConflict(f"{kind} {movement_id} was already recorded differently")
    return MovementResult.model_validate_json(row[1]).model_copy(update={"replayed": True})


def _remember(
    conn: sqlite3.Connection,
    kind: Literal["receipt", "adjustment", "count"],
    movement_id: str,
    request: BaseModel,
    deltas: list[StockDelta],
    seq: int,
    now: datetime,
    report: list[str] | None = None,
) -> MovementResult:
    """Store the answer for retries; it shows on-hand after the movement for ``report`` skus
    (default: the skus it changed)."""
    skus = sorted(set(report) if report is not None else {d.sku for d in deltas})
    placeholders = ",".join("?" * len(skus))
    on_hand = {
        sku: int(q)
        for sku, q in conn.execute(
            f"SELECT sku, on_hand FROM stock WHERE sku IN ({placeholders})",  # noqa: S608
            skus,
        )
    }
    result = MovementResult(
        movement_id=movement_id, kind=kind, deltas=deltas, on_hand=on_hand, event_seq=seq
    )
    conn.execute(
        "INSERT INTO stock_movement (kind, movement_id, request_hash, response, at) "
        "VALUES (?, ?, ?, ?, ?)",
        (kind, movement_id, _fingerprint(request), result.model_dump_json(), iso(now)),
    )
    return result
