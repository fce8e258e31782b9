"""The hub as the authority over what is still returnable, across every channel and store.

Online (``authorize``, called over the store's RPC): the policy is checked, then each line's
units are taken with ``UPDATE ... SET returned = returned + q WHERE returned + q <= quantity``:
of two tills returning the last unit at once, exactly one gets a row back. The refund is split
over the original tenders as they paid. The authorization waits for the store's
``return_recorded`` to complete it; one never completed within ``AUTHORIZATION_TTL`` lapses and
gives its units back (the till never finished the return).

Offline or local (``verify``, from the store's event stream): the store already gave the
money back, so the hub records the return whatever it finds, takes the units if it can, and
raises an alert when it cannot (returned twice) or when the return was outside policy.
Idempotent: authorizations by return id, reported returns by (store, return id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cloud_hub import alerts
from cloud_hub.db import Store, StoreEvent, table, upsert
from cloud_hub.orders.tables import Refund
from cloud_hub.returns import index, lookup, policy
from cloud_hub.returns.tables import (
    PurchaseLine,
    PurchaseReturn,
    PurchaseTender,
    ReturnAuthorization,
)
from storelink_contract.payments import RefundPart, Tender, split
from storelink_contract.returns import (
    Purchase,
    ReturnAuthorize,
    ReturnedLine,
    ReturnLineAsk,
    ReturnRecorded,
    judge,
)
from storelink_contract.returns import (
    ReturnAuthorization as Authorization,
)

log = logging.getLogger(__name__)

_PL = table(PurchaseLine)
_PT = table(PurchaseTender)
_RA = table(ReturnAuthorization)
_PR = table(PurchaseReturn)
_R = table(Refund)
_S = table(Store)
_E = table(StoreEvent)

#: How an offline return of a purchase the hub has not heard of yet is flagged, until it has.
_NOT_INDEXED = "no purchase"
_JOIN = "; "

AUTHORIZATION_TTL = timedelta(hours=1)
#: The store's events must have reached this far past an authorization before it may lapse.
STREAM_MOVED_ON = timedelta(minutes=5)


class _Taken(Exception):
    """A line had fewer returnable units than asked (inside a savepoint, rolled back)."""


def authorize(
    conn: Connection, store_id: str, ask: ReturnAuthorize, now: datetime
) -> Authorization:
    """Check the policy and take the units, or say why not. A retry returns the same answer."""
    earlier = _earlier(conn, store_id, ask)
    if earlier is not None:
        return earlier
    found = lookup.purchase(conn, ask.purchase_id)
    if found is None:
        return Authorization(
            authorized=False,
            reason=f"no purchase {ask.purchase_id} at the hub",
            unknown_purchase=True,
        )
    judgement = judge(policy.current(conn), found, ask.lines, now)
    if judgement.refused:
        return Authorization(authorized=False, reason="; ".join(judgement.refused))
    index.materialize(conn, found.purchase_id)
    if judgement.needs_override and ask.override_by is None:
        return Authorization(
            authorized=False,
            reason="; ".join(judgement.needs_override),
            needs_override=tuple(judgement.needs_override),
        )
    returned = judgement.returned_lines()
    try:
        with conn.begin_nested():
            _take(conn, found.purchase_id, ask.lines)
            refunds = _refund_split(conn, found, judgement.total_cents)
            total = sum(r.amount_cents for r in refunds)
            authorization_id = f"{store_id}:{ask.return_id}"
            conn.execute(
                _RA.insert().values(
                    authorization_id=authorization_id,
                    return_id=ask.return_id,
                    store_id=store_id,
                    purchase_id=found.purchase_id,
                    status="authorized",
                    lines=json.dumps([line.model_dump() for line in returned]),
                    refunds=json.dumps([r.model_dump() for r in refunds]),
                    total_cents=total,
                    created_at=now,
                )
            )
    except _Taken as exc:
        # A retry that waited for the first request's row locks (PostgreSQL) finds the units
        # gone: to that first request, whose answer it must get too.
        earlier = _earlier(conn, store_id, ask)
        if earlier is not None:
            return earlier
        return Authorization(authorized=False, reason=str(exc))
    except IntegrityError:
        # A retry that raced the first request (PostgreSQL): the first one's authorization
        # is committed now, and this one's units went back with the savepoint.
        earlier = _earlier(conn, store_id, ask)
        if earlier is None:
            raise
        return earlier
    return Authorization(
        authorized=True,
        reason=(
            ""
            if total == judgement.total_cents
            else f"{(judgement.total_cents - total) / 100:.2f} of it was refunded before "
            "(the order expired or was cancelled)"
        ),
        authorization_id=authorization_id,
        lines=tuple(returned),
        refunds=tuple(refunds),
        total_cents=total,
    )


def _earlier(conn: Connection, store_id: str, ask: ReturnAuthorize) -> Authorization | None:
    """The answer already given to this store for this return id, if any (a refusal when the
    id is reused for another return: a retry must ask for the same thing)."""
    earlier = conn.execute(
        select(_RA).where(_RA.c.return_id == ask.return_id, _RA.c.store_id == store_id)
    ).first()
    if earlier is None:
        return None
    asked = sorted((a.line_no, a.quantity) for a in ask.lines)
    before = sorted((a.line_no, a.quantity) for a in _asks_of(earlier.lines))
    if earlier.purchase_id != ask.purchase_id or asked != before:
        return Authorization(
            authorized=False,
            reason=f"return id {ask.return_id} was used for another return; use a new id",
        )
    return Authorization(
        authorized=earlier.status != "lapsed",
        reason=""
        if earlier.status != "lapsed"
        else "the authorization lapsed (the till never finished it): start a new return",
        authorization_id=earlier.authorization_id,
        lines=tuple(ReturnedLine.model_validate(x) for x in json.loads(earlier.lines)),
        refunds=tuple(RefundPart.model_validate(r) for r in json.loads(earlier.refunds)),
        total_cents=earlier.total_cents,
    )


def _take(
    conn: Connection, purchase_id: str, asks: tuple[ReturnLineAsk, ...] | list[ReturnLineAsk]
) -> None:
    # Lines in one order everywhere: two returns of one purchase never deadlock (PostgreSQL).
    for ask in sorted(asks, key=lambda a: a.line_no):
        taken = conn.execute(
            update(_PL)
            .where(
                _PL.c.purchase_id == purchase_id,
                _PL.c.line_no == ask.line_no,
                _PL.c.returned + ask.quantity <= _PL.c.quantity,
            )
            .values(returned=_PL.c.returned + ask.quantity)
        )
        if not taken.rowcount:
            raise _Taken(
                f"line {ask.line_no} of {purchase_id} has fewer than {ask.quantity} unit(s) "
                "left to return (already returned, here or at another store)"
            )


def _refund_split(conn: Connection, found: Purchase, amount: int) -> list[RefundPart]:
    rows = conn.execute(
        select(_PT).where(_PT.c.purchase_id == found.purchase_id).order_by(_PT.c.tender_no)
    ).all()
    tenders = [
        (
            r.tender_no,
            Tender.model_construct(
                kind=r.kind,
                amount_cents=r.amount_cents,
                processor_token=r.processor_token,
                card_hash=r.card_hash,
                last4=r.last4,
            ),
        )
        for r in rows
    ]
    done = {r.tender_no: r.refunded_cents for r in rows}
    if rows:  # never more back than the tenders have left (an order refunded on expiry)
        amount = min(amount, sum(max(0, r.amount_cents - r.refunded_cents) for r in rows))
    parts = split(tenders, amount, done)
    for part in parts:
        if part.tender_no is not None:
            conn.execute(
                update(_PT)
                .where(_PT.c.purchase_id == found.purchase_id, _PT.c.tender_no == part.tender_no)
                .values(refunded_cents=_PT.c.refunded_cents + part.amount_cents)
            )
    return parts


def verify(
    conn: Connection, store_id: str, event: ReturnRecorded, now: datetime, seq: int | None = None
) -> None:
    """Record a return a store reports, and check what it could not (in ingest's transaction)."""
    known = conn.execute(
        select(_PR.c.return_id).where(
            _PR.c.store_id == store_id, _PR.c.return_id == event.return_id
        )
    ).first()
    if known is not None:
        return
    flags: list[str] = []
    # An authorization for this return completes it whatever the till says: its answer may
    # have come too late, so the till took its offline answer though the units were taken.
    auth = _authorization_of(conn, store_id, event)
    if auth is not None:
        _complete(conn, auth, event, flags)
    elif event.origin == "authorized":
        flags.append(f"authorization {event.authorization_id} is not the hub's")
    elif event.purchase_id is not None:
        _check_offline(conn, event, flags)
    credit = sum(r.amount_cents for r in event.refunds if r.tender_no is None)
    if event.origin == "offline" and credit > policy.current(conn).offline_credit_limit_cents:
        flags.append(
            f"{credit / 100:.2f} store credit offline, above the offline limit of "
            f"{policy.current(conn).offline_credit_limit_cents / 100:.2f}"
        )
    conn.execute(
        upsert(conn, _PR)
        .values(
            store_id=store_id,
            return_id=event.return_id,
            purchase_id=event.purchase_id,
            origin=event.origin,
            total_cents=event.total_cents,
            units=sum(line.quantity for line in event.lines),
            refunded_to_tenders_cents=event.total_cents - credit,
            store_credit_cents=credit,
            override_by=event.override_by,
            event_seq=seq,
            flagged="; ".join(flags) or None,
            at=event.at,
        )
        .on_conflict_do_nothing(index_elements=["store_id", "return_id"])
    )
    for part in event.refunds:
        conn.execute(
            upsert(conn, _R)
            .values(
                order_id=_order_of(event.purchase_id),
                source="return",
                ref=f"{store_id}:{event.return_id}",
                tender_no=part.tender_no or 0,
                kind=part.kind,
                amount_cents=part.amount_cents,
                processor_token=part.processor_token,
                last4=part.last4,
                store_id=store_id,
                reason=f"{event.origin} return at {store_id}",
                at=event.at,
            )
            .on_conflict_do_nothing(index_elements=["source", "ref", "tender_no"])
        )
    if flags:
        _alert(conn, store_id, event, flags, f"return:{store_id}:{event.return_id}", now)


def _alert(
    conn: Connection,
    store_id: str,
    event: ReturnRecorded,
    flags: list[str],
    ref: str,
    now: datetime,
) -> None:
    returned_twice = any("returned twice" in f for f in flags)
    alerts.record(
        conn,
        ref=ref,
        store_id=store_id,
        kind="return_returned_twice" if returned_twice else "return_outside_policy",
        severity="critical" if returned_twice else "warning",
        subject=event.purchase_id or event.return_id,
        message=f"return {event.return_id} at {store_id} ({event.origin}, "
        f"{event.total_cents / 100:.2f}): " + "; ".join(flags),
        at=now,
    )


def check_late_returns(conn: Connection, purchase_ids: Collection[str], now: datetime) -> int:
    """Offline returns that reached the hub before the purchase they return (its store was
    offline too): check them now that the purchase is indexed; how many were checked."""
    if not purchase_ids:
        return 0
    waiting = conn.execute(
        select(_PR.c.store_id, _PR.c.return_id, _PR.c.flagged, _E.c.payload)
        .join(_E, and_(_E.c.store_id == _PR.c.store_id, _E.c.seq == _PR.c.event_seq))
        .where(
            _PR.c.purchase_id.in_(sorted(purchase_ids)),
            _PR.c.flagged.like(f"{_NOT_INDEXED}%"),
        )
    ).all()
    for store_id, return_id, flagged, payload in waiting:
        event = ReturnRecorded.model_validate_json(payload)
        flags: list[str] = []
        _check_offline(conn, event, flags)
        kept = [f for f in str(flagged).split(_JOIN) if not f.startswith(_NOT_INDEXED)]
        conn.execute(
            update(_PR)
            .where(_PR.c.store_id == store_id, _PR.c.return_id == return_id)
            .values(flagged=_JOIN.join(kept + flags) or None)
        )
        if flags:
            _alert(conn, store_id, event, flags, f"return:{store_id}:{return_id}:late", now)
    return len(waiting)


def _authorization_of(conn: Connection, store_id: str, event: ReturnRecorded) -> Any:
    return conn.execute(
        select(_RA)
        .where(_RA.c.store_id == store_id, _RA.c.return_id == event.return_id)
        .with_for_update()
    ).first()


def _complete(conn: Connection, auth: Any, event: ReturnRecorded, flags: list[str]) -> None:
    """Close the authorization with what the till did: the tenders carry what was actually
    refunded (the hub's split, or the offline answer's store credit)."""
    taken = True
    if auth.status == "lapsed":
        # The till finished after all: take the units again, if they are still there.
        try:
            with conn.begin_nested():
                _take(conn, auth.purchase_id, _asks_of(auth.lines))
        except _Taken as exc:
            flags.append(f"returned twice: {exc}")
            taken = False  # what it paid out is the alert's to settle, not the tenders' count
    else:
        _note_refunds(conn, auth.purchase_id, json.loads(auth.refunds), -1)
    if taken:
        _note_refunds(conn, auth.purchase_id, [r.model_dump() for r in event.refunds], +1)
    # By sku: a till that took its offline answer names lines by sku, not by line number.
    authorized = _per_sku(_lines_of(auth.lines))
    reported = _per_sku(event.lines)
    if reported != authorized:
        flags.append(
            f"the till returned {_units(reported)}, the hub authorized {_units(authorized)}"
        )
    conn.execute(
        update(_RA)
        .where(_RA.c.authorization_id == auth.authorization_id)
        .values(status="completed")
    )


def _note_refunds(
    conn: Connection, purchase_id: str, parts: list[dict[str, Any]], sign: int
) -> None:
    for part in parts:
        if part.get("tender_no") is not None:
            conn.execute(
                update(_PT)
                .where(_PT.c.purchase_id == purchase_id, _PT.c.tender_no == part["tender_no"])
                .values(refunded_cents=_PT.c.refunded_cents + sign * int(part["amount_cents"]))
            )


def _check_offline(conn: Connection, event: ReturnRecorded, flags: list[str]) -> None:
    """Take what an offline return gave back off the purchase, line by line, and flag all
    the till could not check: lines not on the purchase, units returned before, the policy,
    and more money back than the lines were bought for."""
    assert event.purchase_id is not None
    found = lookup.purchase(conn, event.purchase_id)
    if found is None:  # checked again when it arrives: ``check_late_returns``
        flags.append(f"{_NOT_INDEXED} {event.purchase_id} in the index")
        return
    index.materialize(conn, found.purchase_id)
    asks, unmatched = _asks_for(found, event)
    flags.extend(
        f"{line.quantity} x {line.sku} is not on purchase {found.purchase_id}" for line in unmatched
    )
    if not asks:
        return
    judgement = judge(policy.current(conn), found, asks, event.at)
    flags.extend(r for r in judgement.refused if "already returned" not in r)
    if event.override_by is None:
        flags.extend(judgement.needs_override)
    if event.total_cents > judgement.total_cents:
        flags.append(
            f"{event.total_cents / 100:.2f} given back for lines bought for "
            f"{judgement.total_cents / 100:.2f}"
        )
    taken = 0
    for ask in asks:  # each on its own: a line returned before does not void the others
        try:
            with conn.begin_nested():
                _take(conn, found.purchase_id, [ask])
            taken += 1
        except _Taken as exc:
            flags.append(f"returned twice: {exc}")
    if taken:  # what was refunded again is the alert's to settle, not the tenders' count
        _note_refunds(conn, found.purchase_id, [r.model_dump() for r in event.refunds], +1)


def _asks_for(
    found: Purchase, event: ReturnRecorded
) -> tuple[list[ReturnLineAsk], list[ReturnedLine]]:
    """The purchase lines the return names (by line number, or by sku when offline: spread
    over every line of that sku with units left, as a till does not merge lines), and the
    returned lines that match nothing on the purchase."""
    left = {p.line_no: p.returnable for p in found.lines}
    on_purchase = {p.line_no for p in found.lines}
    asks: list[ReturnLineAsk] = []
    unmatched: list[ReturnedLine] = []
    for line in event.lines:
        if line.purchase_line_no is not None:
            if line.purchase_line_no not in on_purchase:
                unmatched.append(line)
                continue
            asks.append(_ask(line.purchase_line_no, line.quantity, line))
            left[line.purchase_line_no] -= line.quantity
            continue
        same = [p.line_no for p in found.lines if p.sku == line.sku]
        if not same:
            unmatched.append(line)
            continue
        wanted = line.quantity
        for line_no in same:
            units = min(wanted, max(0, left[line_no]))
            if units:
                asks.append(_ask(line_no, units, line))
                left[line_no] -= units
                wanted -= units
        if wanted:  # more than the purchase has left: the first line takes it, and says so
            asks.append(_ask(same[0], wanted, line))
    return asks, unmatched


def _ask(line_no: int, quantity: int, line: ReturnedLine) -> ReturnLineAsk:
    return ReturnLineAsk(line_no=line_no, quantity=quantity, condition=line.condition)


def _lines_of(lines_json: str) -> list[ReturnedLine]:
    return [ReturnedLine.model_validate(x) for x in json.loads(lines_json)]


def _asks_of(lines_json: str) -> list[ReturnLineAsk]:
    return [
        ReturnLineAsk(
            line_no=line.purchase_line_no or 0, quantity=line.quantity, condition=line.condition
        )
        for line in _lines_of(lines_json)
    ]


def _per_sku(lines: Iterable[ReturnedLine]) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def _units(units: dict[str, int]) -> str:
    return ", ".join(f"{q} x {sku}" for sku, q in sorted(units.items())) or "nothing"


def _order_of(purchase_id: str | None) -> str | None:
    if purchase_id is not None and purchase_id.startswith("order:"):
        return purchase_id.removeprefix("order:")
    return None


def lapse(conn: Connection, now: datetime) -> int:
    """Give back the units of authorizations a store never completed; return how many.

    Only once the store's stream has moved on past the authorization without its return: a
    till commits the return right after the hub's answer, so later events from that store
    without it mean the till never finished. A store that is merely offline keeps its
    authorizations until it syncs."""
    stale = conn.execute(
        select(_RA, _S.c.last_event_at)
        .join(_S, _S.c.store_id == _RA.c.store_id)
        .where(_RA.c.status == "authorized", _RA.c.created_at < now - AUTHORIZATION_TTL)
    ).all()
    lapsed = 0
    for auth in stale:
        moved_on = auth.last_event_at is not None and auth.last_event_at > (
            auth.created_at + STREAM_MOVED_ON
        )
        if not moved_on:
            continue
        claimed = conn.execute(
            update(_RA)
            .where(_RA.c.authorization_id == auth.authorization_id, _RA.c.status == "authorized")
            .values(status="lapsed")
        )
        if not claimed.rowcount:
            continue  # another hub process lapsed it
        lapsed += 1
        for ask in _asks_of(auth.lines):
            conn.execute(
                update(_PL)
                .where(_PL.c.purchase_id == auth.purchase_id, _PL.c.line_no == ask.line_no)
                .values(returned=_PL.c.returned - ask.quantity)
            )
        for part in json.loads(auth.refunds):
            if part["tender_no"] is not None:
                conn.execute(
                    update(_PT)
                    .where(
                        _PT.c.purchase_id == auth.purchase_id, _PT.c.tender_no == part["tender_no"]
                    )
                    .values(refunded_cents=_PT.c.refunded_cents - part["amount_cents"])
                )
        log.warning(
            "return %s at %s was authorized but never completed; units given back",
            auth.return_id,
            auth.store_id,
        )
    return lapsed
