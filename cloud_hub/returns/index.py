"""Filling the purchase index: every store's POS sales, and online orders once collected.

Sales arrive in the event stream; ``add_sales`` indexes a whole batch in the batch's
transaction with one bulk insert of purchase rows (pointing at each sale's event, which keeps
its lines and tenders) and one of card tenders (so a card token finds the purchase). That is
all the ingest hot path pays: the per-line rows that count returns, and the other tenders, are
written by ``materialize`` the first time a return is checked against the purchase. An online
order becomes a purchase when the customer has it (collected, or shipped). Inserts are
``ON CONFLICT DO NOTHING``: the inbox keeps replays out, this keeps a re-index (or two
materializations at once) harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from cloud_hub.db import Product, StoreEvent, bind_datetime, executemany, table
from cloud_hub.orders.tables import OnlineOrder, OrderLine, OrderTender, Refund
from cloud_hub.returns.tables import Purchase, PurchaseLine, PurchaseTender
from storelink_contract.events import SaleRecorded
from storelink_contract.returns import order_purchase_id, sale_purchase_id

_P = table(Purchase)
_PL = table(PurchaseLine)
_PT = table(PurchaseTender)
_CAT = table(Product)
_E = table(StoreEvent)
_O = table(OnlineOrder)
_OL = table(OrderLine)
_OT = table(OrderTender)
_R = table(Refund)

_NOTHING = "ON CONFLICT DO NOTHING"
_PURCHASE_COLUMNS = (
    "purchase_id", "channel", "store_id", "order_id", "sale_id", "loyalty_id", "purchased_at",
    "total_cents", "event_seq",
)  # fmt: skip
_TENDER_COLUMNS = (
    "purchase_id", "tender_no", "kind", "amount_cents", "processor_token", "card_hash", "last4",
    "refunded_cents",
)  # fmt: skip
_LINE_COLUMNS = (
    "purchase_id", "line_no", "sku", "name", "category", "quantity", "returned",
    "unit_price_cents",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contents:
    """A purchase's lines (line_no, sku, name, category, quantity, unit price) and tenders
    (tender_no, kind, amount, processor token, card hash, last4), wherever they are kept."""

    lines: Sequence[tuple[int, str, str, str, int, int]]
    tenders: Sequence[tuple[int, str, int, str | None, str | None, str | None]]


def add_sales(
    conn: Connection, store_id: str, sales: Sequence[tuple[int, SaleRecorded, object]]
) -> list[str]:
    """Index a batch's POS sales: (sequence, sale, its ``at`` bound for the driver); returns
    their purchase ids."""
    if not sales:
        return []
    purchases: list[tuple[Any, ...]] = []
    cards: list[tuple[Any, ...]] = []
    for seq, sale, at in sales:
        pid = sale_purchase_id(store_id, sale.sale_id)
        purchases.append(
            (
                pid,
                "pos",
                store_id,
                None,
                sale.sale_id,
                sale.loyalty_id,
                at,
                sale.total_cents,
                seq,
            )
        )
        for n, t in enumerate(sale.tenders, start=1):
            if t.processor_token is not None or t.card_hash is not None:
                cards.append(
                    (pid, n, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4, 0)
                )
    executemany(conn, _P, _PURCHASE_COLUMNS, purchases, _NOTHING)
    if cards:
        executemany(conn, _PT, _TENDER_COLUMNS, cards, _NOTHING)
    return [row[0] for row in purchases]


def add_order(conn: Connection, order_id: str, store_id: str | None, at: datetime) -> None:
    """Index an online order the customer now has (collected or shipped)."""
    order = conn.execute(select(_O).where(_O.c.order_id == order_id)).one()
    pid = order_purchase_id(order_id)
    executemany(
        conn,
        _P,
        _PURCHASE_COLUMNS,
        [
            (
                pid,
                order.channel,
                store_id,
                order_id,
                None,
                order.loyalty_id,
                bind_datetime(conn, at),
                order.total_cents,
                None,
            )
        ],
        _NOTHING,
    )
    tenders = contents(conn, pid)
    if tenders is not None:
        # An order refunded when it expired or was cancelled, and handed over after all, has
        # had that money back already: a return must not pay it out a second time.
        before = _refunded(conn, order_id)
        executemany(
            conn,
            _PT,
            _TENDER_COLUMNS,
            [(pid, *t, before.get(t[0], 0)) for t in tenders.tenders],
            _NOTHING,
        )


def _refunded(conn: Connection, order_id: str) -> dict[int, int]:
    """Cents already refunded per tender of an order (expired, cancelled, unfulfillable)."""
    return {
        int(tender_no): int(cents)
        for tender_no, cents in conn.execute(
            select(_R.c.tender_no, func.sum(_R.c.amount_cents))
            .where(_R.c.order_id == order_id, _R.c.source != "return")
            .group_by(_R.c.tender_no)
        )
    }


def contents(conn: Connection, purchase_id: str) -> Contents | None:
    """What was bought and how it was paid, from the sale's event or the order's tables."""
    row = conn.execute(
        select(_P.c.store_id, _P.c.order_id, _P.c.event_seq, _P.c.total_cents).where(
            _P.c.purchase_id == purchase_id
        )
    ).first()
    if row is None:
        return None
    if row.order_id is not None:
        lines = conn.execute(
            select(_OL).where(_OL.c.order_id == row.order_id).order_by(_OL.c.line_no)
        ).all()
        cats = _categories(conn, {line.sku for line in lines})
        return Contents(
            lines=[
                (
                    x.line_no,
                    x.sku,
                    x.name,
                    cats.get(x.sku, "general"),
                    x.quantity,
                    x.unit_price_cents,
                )
                for x in lines
            ],
            tenders=[
                (t.tender_no, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4)
                for t in conn.execute(
                    select(_OT).where(_OT.c.order_id == row.order_id).order_by(_OT.c.tender_no)
                )
            ],
        )
    payload = conn.execute(
        select(_E.c.payload).where(_E.c.store_id == row.store_id, _E.c.seq == row.event_seq)
    ).scalar_one_or_none()
    if payload is None:
        return None
    sale = SaleRecorded.model_validate_json(payload)
    names = _names(conn, {line.sku for line in sale.lines})
    cats = _categories(conn, {line.sku for line in sale.lines})
    paid = [
        (n, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4)
        for n, t in enumerate(sale.tenders, start=1)
    ] or ([(1, "cash", sale.total_cents, None, None, None)] if sale.total_cents else [])
    return Contents(
        lines=[
            (
                n,
                x.sku,
                names.get(x.sku, x.sku),
                cats.get(x.sku, "general"),
                x.quantity,
                x.unit_price_cents,
            )
            for n, x in enumerate(sale.lines, start=1)
        ],
        tenders=paid,
    )


def materialize(conn: Connection, purchase_id: str) -> bool:
    """Write the purchase's line rows and all its tender rows (before a return takes units or
    refunds); False when there is no such purchase."""
    has_lines = conn.execute(
        select(_PL.c.line_no).where(_PL.c.purchase_id == purchase_id).limit(1)
    ).first()
    if has_lines is not None:
        return True
    found = contents(conn, purchase_id)
    if found is None:
        return False
    line_rows: list[tuple[Any, ...]] = [
        (purchase_id, n, sku, name, cat, q, 0, price) for n, sku, name, cat, q, price in found.lines
    ]
    executemany(conn, _PL, _LINE_COLUMNS, line_rows, _NOTHING)
    executemany(conn, _PT, _TENDER_COLUMNS, [(purchase_id, *t, 0) for t in found.tenders], _NOTHING)
    return True


def _categories(conn: Connection, skus: set[str]) -> dict[str, str]:
    if not skus:
        return {}
    return {
        sku: category
        for sku, category in conn.execute(
            select(_CAT.c.sku, _CAT.c.category).where(_CAT.c.sku.in_(sorted(skus)))
        )
    }


def _names(conn: Connection, skus: set[str]) -> dict[str, str]:
    if not skus:
        return {}
    return {
        sku: name
        for sku, name in conn.execute(
            select(_CAT.c.sku, _CAT.c.name).where(_CAT.c.sku.in_(sorted(skus)))
        )
    }
