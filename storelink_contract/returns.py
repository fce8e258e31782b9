"""Returns from any channel: the purchase index's view of a purchase, the return policy, and
the return event.

The policy and its judgement live here, with the wire types, because the store and the hub
must apply exactly the same rules: the store decides at the till (offline too), the hub
verifies what a store decided offline and alerts on anything outside policy.

Policy per product category (``*`` is the default): a return window in days, the conditions
accepted and where each goes (``sellable`` back on the shelf, ``damaged``, ``vendor_return``),
and the store credit a receipt-less return may get. Outside the window a manager may override.
Returnable quantity is bought minus already returned, across every channel and store; the
database that owns the purchase enforces it (the hub for cross-channel returns, the store for
its own sales), so two refunds of one line at once cannot both pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from storelink_contract.common import Cents, EventBase, ExternalId, Frozen, Quantity, Sku
from storelink_contract.payments import RefundPart

#: ``sale:<store id>:<sale id>`` or ``order:<order id>``: longer than a client's own ids.
PurchaseId = Annotated[str, Field(min_length=1, max_length=110)]

Condition = Literal["unopened", "opened", "damaged", "defective"]
Disposition = Literal["sellable", "damaged", "vendor_return"]
LookupBy = Literal["receipt", "order", "loyalty", "card_token", "card_hash"]
#: ``local``: this store's own sale, checked in its database; ``authorized``: checked and taken
#: at the hub online; ``offline``: the hub was unreachable, the offline policy applied;
#: ``receiptless``: no purchase found, store credit within the category's limit.
Origin = Literal["local", "authorized", "offline", "receiptless"]


def sale_purchase_id(store_id: str, sale_id: str) -> str:
    """The purchase id of a POS sale, the same at the store and in the hub's index."""
    return f"sale:{store_id}:{sale_id}"


def order_purchase_id(order_id: str) -> str:
    return f"order:{order_id}"


def receipt_code(store_id: str, sale_id: str) -> str:
    """The barcode printed on a POS receipt: it names the store and the sale, so it needs no
    index of its own (and no field in the sale's event)."""
    return f"SLR1:{store_id}:{sale_id}"


def parse_receipt(code: str) -> tuple[str, str] | None:
    """(store id, sale id) of a receipt barcode, or None for anything else."""
    prefix, _, rest = code.partition(":")
    store_id, _, sale_id = rest.partition(":")
    if prefix != "SLR1" or not store_id or not sale_id:
        return None
    return store_id, sale_id


class PurchaseLookup(Frozen):
    by: LookupBy
    value: str = Field(min_length=1, max_length=128)


class PurchaseLine(Frozen):
    line_no: int
    sku: Sku
    name: str = ""
    category: str = "general"
    quantity: int = Field(ge=1)
    returned: int = Field(ge=0)
    unit_price_cents: int = Field(ge=0)

    @property
    def returnable(self) -> int:
        return max(0, self.quantity - self.returned)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> tuple[PurchaseLine, ...]:
        """From ``(line_no, sku, name, category, quantity, returned, unit_price_cents)`` rows,
        as both the store and the hub read them."""
        return tuple(
            cls(
                line_no=n,
                sku=sku,
                name=name,
                category=cat,
                quantity=q,
                returned=r,
                unit_price_cents=price,
            )
            for n, sku, name, cat, q, r, price in rows
        )


class PurchaseTender(Frozen):
    """A tender as shown at the till: never the token or the card hash."""

    tender_no: int
    kind: str
    amount_cents: int
    last4: str | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> tuple[PurchaseTender, ...]:
        """From ``(tender_no, kind, amount_cents, last4)`` rows."""
        return tuple(cls(tender_no=n, kind=k, amount_cents=a, last4=l4) for n, k, a, l4 in rows)


class Purchase(Frozen):
    purchase_id: PurchaseId
    channel: str
    store_id: str | None = None
    order_id: str | None = None
    sale_id: str | None = None
    receipt_code: str | None = None
    loyalty_id: str | None = None
    purchased_at: datetime
    lines: tuple[PurchaseLine, ...]
    tenders: tuple[PurchaseTender, ...] = ()


class PurchaseList(Frozen):
    purchases: tuple[Purchase, ...] = ()


class ReturnLineAsk(Frozen):
    line_no: int = Field(ge=1)
    quantity: Quantity
    condition: Condition = "unopened"


class ReturnAuthorize(Frozen):
    """Ask the hub to take ``quantity`` off the returnable units of purchase lines."""

    return_id: ExternalId
    purchase_id: PurchaseId
    lines: tuple[ReturnLineAsk, ...] = Field(min_length=1, max_length=200)
    override_by: str | None = Field(default=None, max_length=64)


class ReturnedLine(Frozen):
    sku: Sku
    quantity: Quantity
    condition: Condition
    disposition: Disposition
    purchase_line_no: int | None = Field(default=None, ge=1, le=10_000)
    refund_cents: Cents


class ReturnAuthorization(Frozen):
    authorized: bool
    reason: str = ""
    #: Refused only for what a manager may override (the return window); asked again with
    #: ``override_by`` it passes.
    needs_override: tuple[str, ...] = ()
    #: The hub has no such purchase (yet: a sale this store made minutes ago may not be in).
    unknown_purchase: bool = False
    authorization_id: str | None = None
    lines: tuple[ReturnedLine, ...] = ()
    refunds: tuple[RefundPart, ...] = ()
    total_cents: int = 0


# -- the policy ---------------------------------------------------------------------------------

_DEFAULT_ACCEPTS: dict[Condition, Disposition] = {
    "unopened": "sellable",
    "opened": "sellable",
    "damaged": "damaged",
    "defective": "vendor_return",
}


class CategoryPolicy(Frozen):
    category: str = Field(default="*", min_length=1, max_length=64)
    window_days: Annotated[int, Field(ge=0, le=3650)] = 30
    accepts: dict[Condition, Disposition] = Field(default_factory=lambda: dict(_DEFAULT_ACCEPTS))
    receiptless_credit_limit_cents: Annotated[int, Field(ge=0)] = 2500


class ReturnPolicy(Frozen):
    categories: tuple[CategoryPolicy, ...] = (CategoryPolicy(),)
    #: With the hub unreachable, a return of another channel's purchase gets store credit up
    #: to this, flagged for the hub to verify when the store reconnects.
    offline_credit_limit_cents: Annotated[int, Field(ge=0)] = 5000

    def for_category(self, category: str) -> CategoryPolicy:
        by_name = {c.category: c for c in self.categories}
        return by_name.get(category) or by_name.get("*") or CategoryPolicy()


@dataclass(frozen=True, slots=True)
class LineJudgement:
    line_no: int
    sku: str
    quantity: int
    condition: Condition
    disposition: Disposition | None
    refund_cents: int


@dataclass
class Judgement:
    """What the policy says of a return: refused (no override helps), or needing a manager."""

    lines: list[LineJudgement] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    needs_override: list[str] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.refund_cents for line in self.lines)

    def problems(self, overridden: bool) -> list[str]:
        return self.refused + ([] if overridden else self.needs_override)

    def returned_lines(self) -> list[ReturnedLine]:
        """The lines as the return records them (an unjudged disposition counts as damaged)."""
        return [
            ReturnedLine(
                sku=j.sku,
                quantity=j.quantity,
                condition=j.condition,
                disposition=j.disposition or "damaged",
                purchase_line_no=j.line_no,
                refund_cents=j.refund_cents,
            )
            for j in self.lines
        ]


def judge(
    policy: ReturnPolicy,
    purchase: Purchase,
    asks: Sequence[ReturnLineAsk],
    now: datetime,
) -> Judgement:
    """Check each asked line against the purchase and the policy of its category."""
    out = Judgement()
    lines = {line.line_no: line for line in purchase.lines}
    asked: dict[int, int] = {}
    for ask in asks:
        asked[ask.line_no] = asked.get(ask.line_no, 0) + ask.quantity
    for ask in asks:
        line = lines.get(ask.line_no)
        if line is None:
            out.refused.append(f"line {ask.line_no} is not on purchase {purchase.purchase_id}")
            continue
        rules = policy.for_category(line.category)
        if asked[ask.line_no] > line.returnable:
            out.refused.append(
                f"{line.name or line.sku}: {line.quantity} bought, {line.returned} already "
                f"returned, so at most {line.returnable} can come back"
            )
        disposition = rules.accepts.get(ask.condition)
        if disposition is None:
            out.refused.append(f"{line.name or line.sku}: {ask.condition} items are not accepted")
        deadline = purchase.purchased_at + timedelta(days=rules.window_days)
        if now > deadline:
            out.needs_override.append(
                f"{line.name or line.sku}: bought {purchase.purchased_at:%Y-%m-%d}, outside the "
                f"{rules.window_days}-day return window for {line.category}"
            )
        out.lines.append(
            LineJudgement(
                line_no=ask.line_no,
                sku=line.sku,
                quantity=ask.quantity,
                condition=ask.condition,
                disposition=disposition,
                refund_cents=ask.quantity * line.unit_price_cents,
            )
        )
    return out


# -- what the store reports -------------------------------------------------------------------


class ReturnRecorded(EventBase):
    """A return taken at this store's till. ``deltas`` put sellable units back on the shelf
    here (whatever store sold them). Unless ``origin`` is ``authorized``, the hub still has to
    take the units off the purchase's returnable quantity, and alerts when it cannot."""

    type: Literal["return_recorded"] = "return_recorded"
    return_id: ExternalId
    terminal_id: ExternalId
    purchase_id: PurchaseId | None = None
    origin: Origin
    authorization_id: str | None = None
    lines: tuple[ReturnedLine, ...] = Field(min_length=1, max_length=200)
    refunds: tuple[RefundPart, ...] = Field(default=(), max_length=50)
    total_cents: Cents
    override_by: str | None = Field(default=None, max_length=64)
    override_reason: str = Field(default="", max_length=300)
    #: The policy problems a manager overrode, or that an offline return could not check.
    policy_notes: tuple[str, ...] = ()
