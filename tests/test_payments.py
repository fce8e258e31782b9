"""Refund splitting, shared by the store and the hub: proportional, in whole cents, capped."""

from __future__ import annotations

from storelink_contract.payments import Tender, split

CARD = Tender(kind="card", amount_cents=600, processor_token="tok_visa_4242", last4="4242")
GIFT = Tender(kind="gift_card", amount_cents=300, processor_token="gc_000123")


def test_a_refund_is_split_as_the_purchase_was_paid() -> None:
    parts = split([(1, CARD), (2, GIFT)], 450)
    assert [(p.tender_no, p.amount_cents) for p in parts] == [(1, 300), (2, 150)]


def test_odd_cents_go_to_the_first_tender_with_room() -> None:
    parts = split([(1, CARD), (2, GIFT)], 1)
    assert [(p.tender_no, p.amount_cents) for p in parts] == [(1, 1)]


def test_no_tender_gets_back_more_than_it_has_left() -> None:
    parts = split([(1, CARD), (2, GIFT)], 450, refunded={1: 600})
    assert [(p.tender_no, p.amount_cents) for p in parts] == [(2, 300), (None, 150)]


def test_a_tender_already_over_refunded_gives_nothing_and_takes_nothing() -> None:
    parts = split([(1, CARD), (2, GIFT)], 450, refunded={1: 1350})  # bad books elsewhere
    assert sum(p.amount_cents for p in parts) == 450  # never more than the return is worth
    assert all(p.amount_cents >= 0 for p in parts)
