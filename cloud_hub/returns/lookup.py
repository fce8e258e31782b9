"""Finding a purchase to take back: by receipt barcode, order number, loyalty id or card.

A card is found by the payment processor's token or by the channel's keyed hash of the card;
what comes back shows the tenders by kind, amount and last four digits only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from cloud_hub.db import Product, table
from cloud_hub.returns import index
from cloud_hub.returns.tables import Purchase as PurchaseRow
from cloud_hub.returns.tables import PurchaseLine as LineRow
from cloud_hub.returns.tables import PurchaseTender as TenderRow
from storelink_contract.returns import (
    LookupBy,
    Purchase,
    PurchaseLine,
    PurchaseTender,
    parse_receipt,
    receipt_code,
    sale_purchase_id,
)

_P = table(PurchaseRow)
_PL = table(LineRow)
_PT = table(TenderRow)
_CAT = table(Product)

MAX_RESULTS = 20


def find(conn: Connection, by: LookupBy, value: str) -> list[Purchase]:
    """Purchases matching ``value``, newest first (at most ``MAX_RESULTS``)."""
    stmt: Select[tuple[str]]
    match by:
        case "receipt":
            sale = parse_receipt(value)
            if sale is None:
                return []
            stmt = select(_P.c.purchase_id).where(_P.c.purchase_id == sale_purchase_id(*sale))
        case "order":
            stmt = select(_P.c.purchase_id).where(
                (_P.c.order_id == value) | (_P.c.purchase_id == value)
            )
        case "loyalty":
            stmt = select(_P.c.purchase_id).where(_P.c.loyalty_id == value)
        case "card_token":
            stmt = select(_PT.c.purchase_id).where(_PT.c.processor_token == value)
        case "card_hash":
            stmt = select(_PT.c.purchase_id).where(_PT.c.card_hash == value)
    ids: list[str] = list(dict.fromkeys(str(i) for i in conn.execute(stmt.limit(200)).scalars()))
    found = [p for p in (purchase(conn, pid) for pid in ids) if p is not None]
    found.sort(key=lambda p: p.purchased_at, reverse=True)
    return found[:MAX_RESULTS]


def purchase(conn: Connection, purchase_id: str) -> Purchase | None:
    row = conn.execute(select(_P).where(_P.c.purchase_id == purchase_id)).first()
    if row is None:
        return None
    rows = conn.execute(
        select(
            _PL.c.line_no,
            _PL.c.sku,
            func.coalesce(func.nullif(_PL.c.name, ""), _CAT.c.name, _PL.c.sku),
            _PL.c.category,
            _PL.c.quantity,
            _PL.c.returned,
            _PL.c.unit_price_cents,
        )
        .outerjoin(_CAT, _CAT.c.sku == _PL.c.sku)
        .where(_PL.c.purchase_id == purchase_id)
        .order_by(_PL.c.line_no)
    ).all()
    found = index.contents(conn, purchase_id)
    if found is None:
        return None
    # Line rows exist once something was returned; until then the sale or order speaks.
    lines: list[tuple[Any, ...]] = [tuple(r) for r in rows] or [
        (n, sku, name, cat, q, 0, price) for n, sku, name, cat, q, price in found.lines
    ]
    tenders = [(n, kind, amount, last4) for n, kind, amount, _t, _h, last4 in found.tenders]
    return Purchase(
        purchase_id=row.purchase_id,
        channel=row.channel,
        store_id=row.store_id,
        order_id=row.order_id,
        sale_id=row.sale_id,
        receipt_code=receipt_code(row.store_id, row.sale_id) if row.sale_id else None,
        loyalty_id=row.loyalty_id,
        purchased_at=row.purchased_at,
        lines=PurchaseLine.from_rows(lines),
        tenders=PurchaseTender.from_rows(tenders),
    )
