"""Recording a POS sale: ledger, sale record and outbox event in one transaction.

Idempotent on ``sale_id``: a till that retries after a timeout gets the first answer back and
changes nothing, and the same id with a different body is refused rather than silently merged
(the duplicate-order-after-retry failure POS users report most).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from edge_agent import catalog, ledger, outbox
from edge_agent.clock import iso
from edge_agent.errors import IdempotencyConflict, UnknownProduct
from storelink_contract.common import Cents, ExternalId, Gtin, Quantity, Sku, StockDelta
from storelink_contract.events import SaleLine, SaleRecorded


class SaleLineRequest(BaseModel):
    """One scanned line: a sku or a GTIN, and the price charged if the till set one."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku | None = None
    gtin: Gtin | None = None
    quantity: Quantity
    unit_price_cents: Cents | None = Field(
        default=None, description="Price charged; the catalog price when omitted"
    )

    @model_validator(mode="after")
    def _names_the_item(self) -> SaleLineRequest:
        if self.sku is None and self.gtin is None:
            raise ValueError("a line needs a sku or a gtin")
        return self


class SaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sale_id: ExternalId = Field(description="Unique per sale; a retry reuses it")
    lines: list[SaleLineRequest] = Field(min_length=1, max_length=500)
    at: AwareDatetime | None = Field(
        default=None, description="When the till rang it up, with its UTC offset"
    )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"at"}).encode()).hexdigest()


class SaleResult(BaseModel):
    sale_id: str
    terminal_id: str
    total_cents: int
    lines: list[SaleLine]
    needs_count: list[str] = Field(description="Skus now below zero, flagged for a count")
    event_seq: int
    replayed: bool = False


def record_sale(
    conn: sqlite3.Connection, request: SaleRequest, terminal_id: str, now: datetime
) -> SaleResult:
    """Record a sale (inside the caller's write transaction) or return the earlier result."""
    fingerprint = request.fingerprint()
    earlier = conn.execute(
        "SELECT request_hash, response, terminal_id FROM sale WHERE sale_id = ?",
        (request.sale_id,),
    ).fetchone()
    if earlier is not None:
        if earlier[2] != terminal_id:
            # Two tills numbering receipts alike: replaying the other till's sale would drop
            # this one silently. Refuse, so the till notices and numbers its sales uniquely.
            raise IdempotencyConflict(
                f"sale id {request.sale_id} was already used by {earlier[2]}; "
                "each till must give its sales unique ids"
            )
        if earlier[0] != fingerprint:
            raise IdempotencyConflict(
                f"sale {request.sale_id} was already recorded with different lines"
            )
        return SaleResult.model_validate_json(earlier[1]).model_copy(update={"replayed": True})

    lines = [_price_line(conn, line) for line in request.lines]
    at = request.at or now
    deltas = [StockDelta(sku=line.sku, delta=-line.quantity, reason="sale") for line in lines]
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    negative = ledger.post(conn, deltas, f"sale:{request.sale_id}", at)
    seq = outbox.append(
        conn,
        SaleRecorded(
            at=at,
            deltas=tuple(deltas),
            sale_id=request.sale_id,
            terminal_id=terminal_id,
            lines=tuple(lines),
            total_cents=total,
        ),
    )
    result = SaleResult(
        sale_id=request.sale_id,
        terminal_id=terminal_id,
        total_cents=total,
        lines=lines,
        needs_count=negative,
        event_seq=seq,
    )
    conn.execute(
        "INSERT INTO sale (sale_id, terminal_id, request_hash, total_cents, at, response) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (request.sale_id, terminal_id, fingerprint, total, iso(at), result.model_dump_json()),
    )
    conn.executemany(
        "INSERT INTO sale_line (sale_id, line_no, sku, quantity, unit_price_cents) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (request.sale_id, n, line.sku, line.quantity, line.unit_price_cents)
            for n, line in enumerate(lines, start=1)
        ],
    )
    return result


def _price_line(conn: sqlite3.Connection, line: SaleLineRequest) -> SaleLine:
    key = line.sku or line.gtin
    assert key is not None
    product = catalog.find(conn, key)
    if product is None:
        # Goods physically scanned always sell: an item the catalog does not know yet sells at
        # the till's price, under the sku the till gave.
        if line.sku is None or line.unit_price_cents is None:
            raise UnknownProduct(f"{key} is not in the catalog; give its sku and the price")
        return SaleLine(
            sku=line.sku, quantity=line.quantity, unit_price_cents=line.unit_price_cents
        )
    price = product.price_cents if line.unit_price_cents is None else line.unit_price_cents
    return SaleLine(sku=product.sku, quantity=line.quantity, unit_price_cents=price)
