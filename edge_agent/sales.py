"""Recording a POS sale: ledger, sale record and outbox event in one transaction.

Idempotent on ``sale_id``: a till that retries after a timeout gets the first answer back and
changes nothing, and the same id with a different body is refused rather than silently merged
(the duplicate-order-after-retry failure POS users report most).

A sale records how it was paid (``tenders``; a till that sends none was paid in cash) and gets a
``receipt_code`` for the barcode on the receipt: with the loyalty id and the tenders it is the
proof of purchase any store can take a return against. A sale from a kiosk cart uses up the
units the cart held.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from edge_agent import catalog, ledger, outbox, reservations
from edge_agent.clock import iso
from edge_agent.errors import IdempotencyConflict, StoreError, UnknownProduct
from storelink_contract.common import Cents, ExternalId, Gtin, Quantity, Sku, StockDelta
from storelink_contract.events import SaleLine, SaleRecorded
from storelink_contract.payments import Tender
from storelink_contract.returns import receipt_code


class TendersDoNotAddUp(StoreError):
    """The tenders of a sale do not add up to its total."""


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
    tenders: list[Tender] = Field(
        default_factory=list,
        max_length=10,
        description="How it was paid (split tenders); none means cash for the total",
    )
    loyalty_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    cart_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="A kiosk cart whose held units this sale takes",
    )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"at"}).encode()).hexdigest()


class SaleResult(BaseModel):
    sale_id: str
    terminal_id: str
    receipt_code: str = Field(default="", description="Print as a barcode on the receipt")
    total_cents: int
    lines: list[SaleLine]
    needs_count: list[str] = Field(description="Skus now below zero, flagged for a count")
    event_seq: int
    replayed: bool = False


def record_sale(
    conn: sqlite3.Connection,
    request: SaleRequest,
    terminal_id: str,
    now: datetime,
    store_id: str = "",
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
    paid = sum(t.amount_cents for t in request.tenders)
    if request.tenders and paid != total:
        raise TendersDoNotAddUp(f"the tenders add up to {paid} cents but the sale is {total}")
    # No tenders: paid in cash (not validated here: an impossible total is refused below,
    # by the event's own check, with the field it is about).
    tenders = request.tenders or (
        [Tender.model_construct(kind="cash", amount_cents=total)] if total else []
    )
    negative = ledger.post(conn, deltas, f"sale:{request.sale_id}", at)
    if request.cart_id:
        reservations.close(conn, f"cart:{request.cart_id}", "fulfilled", now)
    code = receipt_code(store_id, request.sale_id)
    seq = outbox.append(
        conn,
        SaleRecorded(
            at=at,
            deltas=tuple(deltas),
            sale_id=request.sale_id,
            terminal_id=terminal_id,
            lines=tuple(lines),
            total_cents=total,
            loyalty_id=request.loyalty_id,
            tenders=tuple(request.tenders),  # none: cash, which the hub assumes
        ),
    )
    result = SaleResult(
        sale_id=request.sale_id,
        terminal_id=terminal_id,
        receipt_code=code,
        total_cents=total,
        lines=lines,
        needs_count=negative,
        event_seq=seq,
    )
    conn.execute(
        "INSERT INTO sale (sale_id, terminal_id, request_hash, total_cents, at, response, "
        "receipt_code, loyalty_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            request.sale_id,
            terminal_id,
            fingerprint,
            total,
            iso(at),
            result.model_dump_json(),
            code,
            request.loyalty_id,
        ),
    )
    conn.executemany(
        "INSERT INTO sale_tender (sale_id, tender_no, kind, amount_cents, processor_token, "
        "card_hash, last4) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (request.sale_id, n, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4)
            for n, t in enumerate(tenders, start=1)
        ],
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
