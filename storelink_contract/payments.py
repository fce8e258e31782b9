"""How a purchase was paid, and how a refund goes back the same way.

Card data rule (PCI DSS 3.3.1, 3.5.1): a card tender carries the payment processor's token for
the transaction, or a keyed hash (HMAC) of the card number, and at most the last four digits.
A "token" that looks like a card number (13-19 digits passing the Luhn check) is refused.

``split`` is shared by the store and the hub so both compute the same refund for the same
return: proportional to what each tender paid, in whole cents, never more than a tender has
left to refund.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from storelink_contract.common import Cents, Frozen

TenderKind = Literal["card", "gift_card", "store_credit", "paypal", "cash"]
_DIGIT_RUN = re.compile(r"\d{13,19}")

ProcessorToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{8,128}$")]
CardHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Last4 = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


class Tender(Frozen):
    """One payment. Cards: a processor token or a keyed hash, plus the last four digits."""

    kind: TenderKind
    amount_cents: Annotated[int, Field(gt=0, le=10**11)]
    processor_token: ProcessorToken | None = None
    card_hash: CardHash | None = Field(
        default=None, description="HMAC-SHA256 of the card number under the channel's key"
    )
    last4: Last4 | None = None

    @model_validator(mode="after")
    def _no_card_numbers(self) -> Tender:
        if self.processor_token and any(
            luhn_ok(run) for run in _DIGIT_RUN.findall(self.processor_token)
        ):
            raise ValueError("processor_token looks like a card number: send the processor's token")
        if self.kind == "card" and (
            (self.processor_token is None and self.card_hash is None) or self.last4 is None
        ):
            raise ValueError("a card tender needs a processor_token or card_hash, and last4")
        return self


class RefundPart(Frozen):
    """What goes back to one tender of the purchase (``tender_no`` None: store credit)."""

    tender_no: int | None = Field(ge=1, le=1_000)
    kind: TenderKind
    amount_cents: Cents
    last4: Last4 | None = None
    processor_token: ProcessorToken | None = Field(
        default=None, description="For the payment terminal's referenced refund; never shown"
    )


def split(
    tenders: Sequence[tuple[int, Tender]], amount: int, refunded: dict[int, int] | None = None
) -> list[RefundPart]:
    """Refund ``amount`` cents over ``tenders`` (numbered), in proportion to what each paid,
    capped by what each has left after ``refunded``; any cent a cap leaves over goes to the
    next tender with room, and what no tender can take comes back as store credit."""
    done = refunded or {}
    total_paid = sum(t.amount_cents for _n, t in tenders)
    room = {n: max(0, t.amount_cents - done.get(n, 0)) for n, t in tenders}
    share: dict[int, int] = {}
    if total_paid > 0:
        for n, t in tenders:
            share[n] = min(room[n], amount * t.amount_cents // total_paid)
    left = amount - sum(share.values())
    for n, _t in tenders:  # whole cents lost to rounding or caps, in tender order
        extra = min(left, room[n] - share.get(n, 0))
        if extra > 0:
            share[n] = share.get(n, 0) + extra
            left -= extra
    parts = [
        RefundPart(
            tender_no=n,
            kind=t.kind,
            amount_cents=share[n],
            last4=t.last4,
            processor_token=t.processor_token,
        )
        for n, t in tenders
        if share.get(n, 0) > 0
    ]
    if left > 0:
        parts.append(RefundPart(tender_no=None, kind="store_credit", amount_cents=left))
    return parts
