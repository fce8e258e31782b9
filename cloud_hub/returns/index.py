"""Filling the purchase index: every store's POS sales, and online orders once collected.

Sales arrive in the event stream; ``add_sales`` indexes a whole batch with three bulk inserts
(the ingest hot path), in the batch's transaction. An online order becomes a purchase when the
customer has it (collected, or shipped), with the order's own lines and tenders. Inserts are
``ON CONFLICT DO NOTHING``: the inbox already keeps replays out, this keeps a re-index harmless.
"""

from __future__ import annotations

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


def add_sales(conn: Connection, store_id: str, sales: Sequence[SaleRecorded]) -> None:
    """Index a batch's POS sales (a sale without tenders was paid in cash)."""
    if not sales:
        return
    categories = _categories(conn, {line.sku for sale in sales for line in sale.lines})
    purchases: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    tenders: list[tuple[Any, ...]] = []
    for sale in sales:
        pid = sale_purchase_id(store_id, sale.sale_id)
        purchases.append(
            (
                pid,
                "pos",
                store_id,
                sale.sale_id,
                sale.receipt_code,
                sale.loyalty_id,
                bind_datetime(conn, sale.at),
                sale.total_cents,
            )
        )
        for n, line in enumerate(sale.lines, start=1):
            lines.append(
                (
                    pid,
                    n,
                    line.sku,
                    "",
                    categories.get(line.sku, "general"),
                    line.quantity,
                    0,
                    line.unit_price_cents,
                )
            )
        paid = sale.tenders or ()
        if not paid and sale.total_cents:
            tenders.append((pid, 1, "cash", sale.total_cents, None, None, None, 0))
        for n, t in enumerate(paid, start=1):
            tenders.append(
                (pid, n, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4, 0)
            )
    executemany(
        conn,
        _P,
        (
            "purchase_id",
            "channel",
            "store_id",
            "sale_id",
            "receipt_code",
            "loyalty_id",
            "purchased_at",
            "total_cents",
        ),
        purchases,
        _NOTHING,
    )
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
        lines,
        _NOTHING,
    )
    executemany(
        conn,
        _PT,
        (
            "purchase_id",
            "tender_no",
            "kind",
            "amount_cents",
            "processor_token",
            "card_hash",
            "last4",
            "refunded_cents",
        ),
        tenders,
        _NOTHING,
    )


def add_order(conn: Connection, order_id: str, store_id: str | None, at: datetime) -> None:
    """Index an online order the customer now has (collected or shipped)."""
    order = conn.execute(select(_O).where(_O.c.order_id == order_id)).one()
    pid = order_purchase_id(order_id)
    order_lines = conn.execute(
        select(_OL).where(_OL.c.order_id == order_id).order_by(_OL.c.line_no)
    ).all()
    categories = _categories(conn, {line.sku for line in order_lines})
    executemany(
        conn,
        _P,
        (
            "purchase_id",
            "channel",
            "store_id",
            "order_id",
            "loyalty_id",
            "purchased_at",
            "total_cents",
        ),
        [
            (
                pid,
                order.channel,
                store_id,
                order_id,
                order.loyalty_id,
                bind_datetime(conn, at),
                order.total_cents,
            )
        ],
        _NOTHING,
    )
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
            (
                pid,
                line.line_no,
                line.sku,
                line.name,
                categories.get(line.sku, "general"),
                line.quantity,
                0,
                line.unit_price_cents,
            )
            for line in order_lines
        ],
        _NOTHING,
    )
    tenders: list[tuple[Any, ...]] = [
        (pid, t.tender_no, t.kind, t.amount_cents, t.processor_token, t.card_hash, t.last4, 0)
        for t in conn.execute(select(_OT).where(_OT.c.order_id == order_id))
    ]
    executemany(
        conn,
        _PT,
        (
            "purchase_id",
            "tender_no",
            "kind",
            "amount_cents",
            "processor_token",
            "card_hash",
            "last4",
            "refunded_cents",
        ),
        tenders,
        _NOTHING,
    )


def _categories(conn: Connection, skus: set[str]) -> dict[str, str]:
    if not skus:
        return {}
    return {
        sku: category
        for sku, category in conn.execute(
            select(_CAT.c.sku, _CAT.c.category).where(_CAT.c.sku.in_(sorted(skus)))
        )
    }
