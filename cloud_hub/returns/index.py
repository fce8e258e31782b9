"""Filling the purchase index: every store's POS sales, and online orders once collected.

Sales arrive in the event stream; ``add_sales`` indexes a whole batch in the batch's
transaction with one bulk insert of purchases (their lines and tenders as JSON) and one of
the card tenders (so a card token finds the purchase). That is all the ingest hot path pays:
the per-line rows that count returns, and the other tenders, are written by ``materialize``
the first time a return is checked against the purchase. An online order becomes a purchase
when the customer has it (collected, or shipped). Inserts are ``ON CONFLICT DO NOTHING``: the
inbox already keeps replays out, this keeps a re-index (or two materializations at once)
harmless.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub.db import Product, bind_datetime, executemany, table
from cloud_hub.orders.tables import OnlineOrder, OrderLine, OrderTender
from cloud_hub.returns.tables import Purchase, PurchaseLine, PurchaseTender
from storelink_contract.events import SaleRecorded
from storelink_contract.returns import order_purchase_id, sale_purchase_id

_P = table(Purchase)
_PL = table(PurchaseLine)
_PT = table(PurchaseTender)
_CAT = table(Product)
_O = table(OnlineOrder)
_OL = table(OrderLine)
_OT = table(OrderTender)

_NOTHING = "ON CONFLICT DO NOTHING"
_PURCHASE_COLUMNS = (
    "purchase_id", "channel", "store_id", "order_id", "sale_id", "receipt_code", "loyalty_id",
    "purchased_at", "total_cents", "lines_json", "tenders_json",
)  # fmt: skip
_TENDER_COLUMNS = (
    "purchase_id", "tender_no", "kind", "amount_cents", "processor_token", "card_hash", "last4",
    "refunded_cents",
)  # fmt: skip
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def add_sales(conn: Connection, store_id: str, sales: Sequence[SaleRecorded]) -> None:
    """Index a batch's POS sales (a sale without tenders was paid in cash)."""
    if not sales:
        return
    categories = _categories(conn, {line.sku for sale in sales for line in sale.lines})
    purchases: list[tuple[Any, ...]] = []
    cards: list[tuple[Any, ...]] = []
    for sale in sales:
        pid = sale_purchase_id(store_id, sale.sale_id)
        tenders = [
            (n, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4)
            for n, t in enumerate(sale.tenders, start=1)
        ] or ([(1, "cash", sale.total_cents, None, None, None)] if sale.total_cents else [])
        lines = [
            (
                n,
                line.sku,
                "",
                categories.get(line.sku, "general"),
                line.quantity,
                line.unit_price_cents,
            )
            for n, line in enumerate(sale.lines, start=1)
        ]
        purchases.append(
            (
                pid,
                "pos",
                store_id,
                None,
                sale.sale_id,
                sale.receipt_code,
                sale.loyalty_id,
                bind_datetime(conn, sale.at),
                sale.total_cents,
                _ENCODE(lines),
                _ENCODE(tenders),
            )
        )
        cards.extend((pid, *t, 0) for t in tenders if t[3] is not None or t[4] is not None)
    executemany(conn, _P, _PURCHASE_COLUMNS, purchases, _NOTHING)
    executemany(conn, _PT, _TENDER_COLUMNS, cards, _NOTHING)


def add_order(conn: Connection, order_id: str, store_id: str | None, at: datetime) -> None:
    """Index an online order the customer now has (collected or shipped)."""
    order = conn.execute(select(_O).where(_O.c.order_id == order_id)).one()
    order_lines = conn.execute(
        select(_OL).where(_OL.c.order_id == order_id).order_by(_OL.c.line_no)
    ).all()
    categories = _categories(conn, {line.sku for line in order_lines})
    lines = [
        (
            line.line_no,
            line.sku,
            line.name,
            categories.get(line.sku, "general"),
            line.quantity,
            line.unit_price_cents,
        )
        for line in order_lines
    ]
    tenders = [
        (t.tender_no, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4)
        for t in conn.execute(
            select(_OT).where(_OT.c.order_id == order_id).order_by(_OT.c.tender_no)
        )
    ]
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
                None,
                order.loyalty_id,
                bind_datetime(conn, at),
                order.total_cents,
                _ENCODE(lines),
                _ENCODE(tenders),
            )
        ],
        _NOTHING,
    )
    executemany(conn, _PT, _TENDER_COLUMNS, [(pid, *t, 0) for t in tenders], _NOTHING)


def materialize(conn: Connection, purchase_id: str) -> bool:
    """Write the purchase's line rows and all its tender rows (before a return takes units or
    refunds); False when there is no such purchase."""
    row = conn.execute(
        select(_P.c.lines_json, _P.c.tenders_json).where(_P.c.purchase_id == purchase_id)
    ).first()
    if row is None:
        return False
    has_lines = conn.execute(
        select(_PL.c.line_no).where(_PL.c.purchase_id == purchase_id).limit(1)
    ).first()
    if has_lines is None:
        executemany(
            conn,
            _PL,
            (
                "purchase_id",
                "line_no",
                "sku",
                "name",
                "category",
                "quantity",
                "returned",
                "unit_price_cents",
            ),
            [
                (purchase_id, n, sku, name, cat, q, 0, price)
                for n, sku, name, cat, q, price in json.loads(row.lines_json)
            ],
            _NOTHING,
        )
        executemany(
            conn, _PT, _TENDER_COLUMNS,
            [(purchase_id, *t, 0) for t in json.loads(row.tenders_json)], _NOTHING,
        )  # fmt: skip
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
