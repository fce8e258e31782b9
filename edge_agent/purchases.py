"""This store's own sales as proofs of purchase: found by receipt, loyalty id or card.

The store answers from here for its own sales, online or off: the sale was rung up here, so
its lines, tenders and what came back of it are in this database. ``sale_line.returned`` is
kept with a CHECK (0 <= returned <= quantity) and moved only by a conditional UPDATE, so two
tills returning the last unit of a line at once cannot both succeed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from edge_agent.clock import parse
from storelink_contract.payments import RefundPart, Tender, split
from storelink_contract.returns import (
    LookupBy,
    Purchase,
    PurchaseLine,
    PurchaseTender,
    ReturnLineAsk,
    sale_purchase_id,
)


def sale_of(store_id: str, purchase_id: str) -> str | None:
    """The sale id when ``purchase_id`` is one of this store's sales, else None."""
    prefix = sale_purchase_id(store_id, "")
    return purchase_id.removeprefix(prefix) if purchase_id.startswith(prefix) else None


def find(conn: sqlite3.Connection, store_id: str, by: LookupBy, value: str) -> list[Purchase]:
    match by:
        case "receipt":
            rows = conn.execute("SELECT sale_id FROM sale WHERE receipt_code = ?", (value,))
        case "loyalty":
            rows = conn.execute(
                "SELECT sale_id FROM sale WHERE loyalty_id = ? ORDER BY at DESC LIMIT 20",
                (value,),
            )
        case "card_token":
            rows = conn.execute(
                "SELECT DISTINCT sale_id FROM sale_tender WHERE processor_token = ?", (value,)
            )
        case "card_hash":
            rows = conn.execute(
                "SELECT DISTINCT sale_id FROM sale_tender WHERE card_hash = ?", (value,)
            )
        case "order":
            return []  # online orders are the hub's
    found = [purchase(conn, store_id, sale_id) for (sale_id,) in rows.fetchall()]
    return sorted((p for p in found if p), key=lambda p: p.purchased_at, reverse=True)


def purchase(conn: sqlite3.Connection, store_id: str, sale_id: str) -> Purchase | None:
    sale = conn.execute(
        "SELECT sale_id, receipt_code, loyalty_id, at FROM sale WHERE sale_id = ?", (sale_id,)
    ).fetchone()
    if sale is None:
        return None
    lines = conn.execute(
        "SELECT l.line_no, l.sku, coalesce(p.name, l.sku), coalesce(p.category, 'general'), "
        "l.quantity, l.returned, l.unit_price_cents FROM sale_line l "
        "LEFT JOIN product p ON p.sku = l.sku WHERE l.sale_id = ? ORDER BY l.line_no",
        (sale_id,),
    ).fetchall()
    tenders = conn.execute(
        "SELECT tender_no, kind, amount_cents, last4 FROM sale_tender WHERE sale_id = ? "
        "ORDER BY tender_no",
        (sale_id,),
    ).fetchall()
    return Purchase(
        purchase_id=sale_purchase_id(store_id, sale[0]),
        channel="pos",
        store_id=store_id,
        sale_id=sale[0],
        receipt_code=sale[1],
        loyalty_id=sale[2],
        purchased_at=parse(sale[3]),
        lines=PurchaseLine.from_rows(lines),
        tenders=PurchaseTender.from_rows(tenders),
    )


def take(conn: sqlite3.Connection, sale_id: str, asks: list[ReturnLineAsk]) -> str | None:
    """Take the units off the sale's lines (in the caller's transaction); the reason when a
    line has fewer returnable units than asked (the caller rolls back)."""
    for ask in asks:
        cur = conn.execute(
            "UPDATE sale_line SET returned = returned + ? WHERE sale_id = ? AND line_no = ? "
            "AND returned + ? <= quantity",
            (ask.quantity, sale_id, ask.line_no, ask.quantity),
        )
        if cur.rowcount != 1:
            return (
                f"line {ask.line_no} has fewer than {ask.quantity} unit(s) left to return "
                "(already returned)"
            )
    return None


def note_refunds(conn: sqlite3.Connection, sale_id: str, parts: Iterable[RefundPart]) -> None:
    """Record refunds decided elsewhere (by the hub) against the sale's tenders."""
    for part in parts:
        if part.tender_no is not None:
            conn.execute(
                "UPDATE sale_tender SET refunded_cents = refunded_cents + ? "
                "WHERE sale_id = ? AND tender_no = ?",
                (part.amount_cents, sale_id, part.tender_no),
            )


def refund_split(conn: sqlite3.Connection, sale_id: str, amount: int) -> list[RefundPart]:
    """Split ``amount`` over the sale's tenders as paid, and note it against them."""
    rows = conn.execute(
        "SELECT tender_no, kind, amount_cents, processor_token, card_hash, last4, "
        "refunded_cents FROM sale_tender WHERE sale_id = ? ORDER BY tender_no",
        (sale_id,),
    ).fetchall()
    tenders = [
        (
            n,
            Tender.model_construct(
                kind=k, amount_cents=a, processor_token=tok, card_hash=h, last4=l4
            ),
        )
        for n, k, a, tok, h, l4, _done in rows
    ]
    parts = split(tenders, amount, {n: done for n, *_rest, done in rows})
    note_refunds(conn, sale_id, parts)
    return parts
