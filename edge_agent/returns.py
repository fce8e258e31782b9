"""Returns at the till, of a purchase from any channel: policy, who may override, the refund.

Which database decides what is still returnable (so two refunds of one line cannot both pass):

- **this store's own sale**: the hub when it knows the sale (it sees returns at every store),
  else this store's database (the sale may not be synced yet, or the hub is unreachable);
  either way this store's ``sale_line.returned`` moves too;
- **another channel's purchase** (a web order, another store's sale): the hub, over the RPC.
  With the hub unreachable the offline policy applies: store credit up to a limit, flagged for
  the hub to verify when the store reconnects (it alerts on anything returned twice);
- **no receipt**: store credit within the category's limit.

The refund goes back to the original tenders, split as paid; the terminal gets each tender's
processor token for the referenced refund. A manager (role ``manager``) may override what the
policy allows overriding (the return window, the credit limits), with a reason that is kept
and sent to HQ. Sellable returns go back on this store's shelf (a ``return`` delta here,
whatever store sold them). Idempotent on ``return_id``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from edge_agent import alerts, catalog, ledger, outbox, purchases
from edge_agent.auth import Device, Role
from edge_agent.clock import iso
from edge_agent.db import StoreDB
from edge_agent.errors import HubRefused, HubUnreachable, IdempotencyConflict
from edge_agent.return_requests import (
    LookupResult,
    NeedsOverride,
    OverrideNotAllowed,
    ReturnLineIn,
    ReturnRefused,
    ReturnRequest,
    ReturnResult,
)
from storelink_contract.common import StockDelta
from storelink_contract.payments import RefundPart
from storelink_contract.returns import (
    LookupBy,
    Origin,
    Purchase,
    PurchaseList,
    PurchaseLookup,
    ReturnAuthorization,
    ReturnAuthorize,
    ReturnedLine,
    ReturnLineAsk,
    ReturnPolicy,
    ReturnRecorded,
    judge,
)
from storelink_contract.rpc import Method

log = logging.getLogger(__name__)

HubCall = Callable[[Method, BaseModel, float], dict[str, Any]]


class ReturnDesk:
    """One per agent; the POS routes call it."""

    def __init__(self, db: StoreDB, store_id: str, hub: HubCall, timeout_s: float) -> None:
        self._db = db
        self._store_id = store_id
        self._hub = hub
        self._timeout_s = timeout_s

    # -- finding the purchase ---------------------------------------------------------------

    def lookup(self, by: LookupBy, value: str) -> LookupResult:
        """This store's own sales, and every channel's purchases the hub knows of."""
        local = purchases.find(self._db.read(), self._store_id, by, value)
        try:
            answer = self._hub(
                "purchase_lookup", PurchaseLookup(by=by, value=value), self._timeout_s
            )
        except HubUnreachable:
            return LookupResult(purchases=local, hub_reachable=False)
        except HubRefused as exc:
            log.warning("purchase lookup refused by the hub: %s", exc)
            return LookupResult(purchases=local, hub_reachable=True)
        merged = {p.purchase_id: p for p in PurchaseList.model_validate(answer).purchases}
        for own in local:  # returns taken here and not yet synced count against the hub's view
            theirs = merged.get(own.purchase_id)
            merged[own.purchase_id] = own if theirs is None else _most_returned(own, theirs)
        found = sorted(merged.values(), key=lambda p: p.purchased_at, reverse=True)
        return LookupResult(purchases=found, hub_reachable=True)

    # -- taking it back ----------------------------------------------------------------------

    def take_return(self, device: Device, request: ReturnRequest, now: datetime) -> ReturnResult:
        try:
            return self._take_return(device, request, now)
        except _AlreadyTaken as done:
            return done.result

    def _take_return(self, device: Device, request: ReturnRequest, now: datetime) -> ReturnResult:
        earlier = self._earlier(request)
        if earlier is not None:
            return earlier
        if request.override is not None and device.role is not Role.MANAGER:
            raise OverrideNotAllowed(
                f"a {device.role} device may not override the return policy: a manager must"
            )
        with self._db.write() as conn:
            policy = current_policy(conn)
        if request.purchase_id is None:
            return self._without_receipt(device, request, policy, now)
        sale_id = purchases.sale_of(self._store_id, request.purchase_id)
        if sale_id is not None:
            return self._own_sale(device, request, sale_id, policy, now)
        return self._other_channel(device, request, policy, now)

    def _own_sale(
        self,
        device: Device,
        request: ReturnRequest,
        sale_id: str,
        policy: ReturnPolicy,
        now: datetime,
    ) -> ReturnResult:
        found = purchases.purchase(self._db.read(), self._store_id, sale_id)
        if found is None:
            raise ReturnRefused(f"no sale {sale_id} at this store")
        asks = _asks(found, request.lines)
        judgement = judge(policy, found, asks, now)
        if judgement.refused:
            raise ReturnRefused("; ".join(judgement.refused))
        if judgement.needs_override and request.override is None:
            raise NeedsOverride("; ".join(judgement.needs_override))
        lines = judgement.returned_lines()
        auth = self._authorize(device, request, asks)
        if auth is not None and not auth.authorized and not auth.unknown_purchase:
            _refuse(auth)
        notes = [] if request.override is None else list(judgement.needs_override)
        with self._db.write() as conn:
            problem = purchases.take(conn, sale_id, asks)
            if auth is not None and auth.authorized:
                if problem:  # the hub (every store) is the authority; this copy catches up
                    log.warning(
                        "return %s: local sale copy disagrees: %s", request.return_id, problem
                    )
                purchases.note_refunds(conn, sale_id, auth.refunds)
                return self._commit(
                    conn,
                    device,
                    request,
                    "authorized",
                    auth.authorization_id,
                    lines,
                    list(auth.refunds),
                    notes,
                    now,
                )
            if problem:
                raise ReturnRefused(problem)  # rolls the transaction back
            refunds = purchases.refund_split(conn, sale_id, judgement.total_cents)
            return self._commit(conn, device, request, "local", None, lines, refunds, notes, now)

    def _other_channel(
        self, device: Device, request: ReturnRequest, policy: ReturnPolicy, now: datetime
    ) -> ReturnResult:
        assert request.purchase_id is not None
        auth: ReturnAuthorization | None = None
        try:
            asks = self._hub_asks(request)
        except HubUnreachable:
            asks = None
        if asks is not None:
            auth = self._authorize(device, request, asks)
        if auth is None and any(line.sku is None for line in request.lines):
            raise ReturnRefused(
                "the hub is unreachable: scan the items being returned (their sku) to "
                "take the return under the offline policy"
            )
        if auth is None:
            return self._offline(device, request, policy, now)
        if not auth.authorized:
            _refuse(auth)
        with self._db.write() as conn:
            return self._commit(
                conn,
                device,
                request,
                "authorized",
                auth.authorization_id,
                list(auth.lines),
                list(auth.refunds),
                [],
                now,
            )

    def _offline(
        self, device: Device, request: ReturnRequest, policy: ReturnPolicy, now: datetime
    ) -> ReturnResult:
        """The hub is unreachable and the purchase is not this store's: store credit within
        the offline limit, flagged for the hub to check."""
        assert request.purchase_id is not None
        limit = policy.offline_credit_limit_cents
        with self._db.write() as conn:
            lines = _priced(conn, policy, request.lines)
            for line in lines:
                before = conn.execute(
                    "SELECT 1 FROM return_line l JOIN return_record r USING (return_id) "
                    "WHERE l.purchase_id = ? AND l.sku = ? AND r.origin = 'offline'",
                    (request.purchase_id, line.sku),
                ).fetchone()
                if before is not None:
                    raise ReturnRefused(
                        f"{line.sku} of {request.purchase_id} was already returned here while "
                        "the hub was unreachable; wait until it is back"
                    )
            total = sum(line.refund_cents for line in lines)
            notes = [f"offline: the hub was unreachable; {request.purchase_id} not verified"]
            if total > limit:
                if request.override is None:
                    raise NeedsOverride(
                        f"with the hub unreachable, a return gets at most {limit / 100:.2f} in "
                        f"store credit (this one: {total / 100:.2f}); a manager may override"
                    )
                notes.append(f"over the offline limit of {limit / 100:.2f}, overridden")
            credit = [RefundPart(tender_no=None, kind="store_credit", amount_cents=total)]
            return self._commit(conn, device, request, "offline", None, lines, credit, notes, now)

    def _without_receipt(
        self, device: Device, request: ReturnRequest, policy: ReturnPolicy, now: datetime
    ) -> ReturnResult:
        with self._db.write() as conn:
            lines = _priced(conn, policy, request.lines)
            total = sum(line.refund_cents for line in lines)
            limit = min(
                policy.for_category(_category(conn, line.sku)).receiptless_credit_limit_cents
                for line in lines
            )
            notes = []
            if total > limit:
                if request.override is None:
                    raise NeedsOverride(
                        f"without a receipt, a return gets at most {limit / 100:.2f} in store "
                        f"credit (this one: {total / 100:.2f}); a manager may override"
                    )
                notes.append(f"no receipt, over the limit of {limit / 100:.2f}, overridden")
            credit = [RefundPart(tender_no=None, kind="store_credit", amount_cents=total)]
            return self._commit(
                conn, device, request, "receiptless", None, lines, credit, notes, now
            )

    # -- helpers ------------------------------------------------------------------------------

    def _hub_asks(self, request: ReturnRequest) -> list[ReturnLineAsk]:
        """The purchase lines a return names; items named by sku are matched to the lines of
        the purchase as the hub has it (``HubUnreachable`` when it cannot be asked)."""
        if all(line.line_no is not None for line in request.lines):
            return [
                ReturnLineAsk(
                    line_no=line.line_no or 0, quantity=line.quantity, condition=line.condition
                )
                for line in request.lines
            ]
        assert request.purchase_id is not None
        try:
            answer = self._hub(
                "purchase_lookup",
                PurchaseLookup(by="order", value=request.purchase_id),
                self._timeout_s,
            )
        except HubRefused as exc:
            raise ReturnRefused(f"the hub refused: {exc}") from exc
        found = next(
            (
                p
                for p in PurchaseList.model_validate(answer).purchases
                if p.purchase_id == request.purchase_id
            ),
            None,
        )
        if found is None:
            raise ReturnRefused(f"no purchase {request.purchase_id} at the hub")
        return _asks(found, request.lines)

    def _authorize(
        self, device: Device, request: ReturnRequest, asks: list[ReturnLineAsk]
    ) -> ReturnAuthorization | None:
        """The hub's decision, or None when it cannot be asked now."""
        assert request.purchase_id is not None
        ask = ReturnAuthorize(
            return_id=request.return_id,
            purchase_id=request.purchase_id,
            lines=tuple(asks),
            override_by=device.device_id if request.override else None,
        )
        try:
            answer = self._hub("return_authorize", ask, self._timeout_s)
        except HubUnreachable:
            return None
        except HubRefused as exc:
            raise ReturnRefused(f"the hub refused: {exc}") from exc
        return ReturnAuthorization.model_validate(answer)

    def _earlier(self, request: ReturnRequest) -> ReturnResult | None:
        return _recorded(self._db.read(), request)

    def _commit(
        self,
        conn: sqlite3.Connection,
        device: Device,
        request: ReturnRequest,
        origin: Origin,
        authorization_id: str | None,
        lines: list[ReturnedLine],
        refunds: list[RefundPart],
        notes: list[str],
        now: datetime,
    ) -> ReturnResult:
        """The return, its stock effect and its event, in one transaction."""
        done = _recorded(conn, request)
        if done is not None:
            raise _AlreadyTaken(done)  # a retry that raced the first request: its answer
        deltas = [
            StockDelta(sku=line.sku, delta=line.quantity, reason="return")
            for line in lines
            if line.disposition == "sellable"
        ]
        ledger.post(conn, deltas, f"return:{request.return_id}", now)
        total = sum(line.refund_cents for line in lines)
        override = request.override
        seq = outbox.append(
            conn,
            ReturnRecorded(
                at=now,
                deltas=tuple(deltas),
                return_id=request.return_id,
                terminal_id=device.device_id,
                purchase_id=request.purchase_id,
                origin=origin,
                authorization_id=authorization_id,
                lines=tuple(lines),
                refunds=tuple(refunds),
                total_cents=total,
                override_by=device.device_id if override else None,
                override_reason=override.reason if override else "",
                policy_notes=tuple(notes),
            ),
        )
        result = ReturnResult(
            return_id=request.return_id,
            origin=origin,
            purchase_id=request.purchase_id,
            lines=lines,
            refunds=refunds,
            total_cents=total,
            notes=notes,
            event_seq=seq,
        )
        conn.execute(
            "INSERT INTO return_record (return_id, request_hash, terminal_id, purchase_id, "
            "origin, total_cents, response, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.return_id,
                request.fingerprint(),
                device.device_id,
                request.purchase_id,
                origin,
                total,
                result.model_dump_json(),
                iso(now),
            ),
        )
        conn.executemany(
            "INSERT INTO return_line (return_id, line_no, purchase_id, purchase_line_no, sku, "
            "quantity, condition, disposition, refund_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    request.return_id,
                    n,
                    request.purchase_id,
                    line.purchase_line_no,
                    line.sku,
                    line.quantity,
                    line.condition,
                    line.disposition,
                    line.refund_cents,
                )
                for n, line in enumerate(lines, start=1)
            ],
        )
        if override is not None:
            alerts.raise_alert(
                conn,
                "return_override",
                f"manager {device.device_id} overrode the return policy for return "
                f"{request.return_id} ({total / 100:.2f}): {override.reason}"
                + (f" [{'; '.join(notes)}]" if notes else ""),
                now,
                subject=request.purchase_id or request.return_id,
                severity="info",
            )
        return result


class _AlreadyTaken(Exception):
    """The same return id committed while this request was deciding (rolls this one back)."""

    def __init__(self, result: ReturnResult) -> None:
        super().__init__(result.return_id)
        self.result = result


def _recorded(conn: sqlite3.Connection, request: ReturnRequest) -> ReturnResult | None:
    row = conn.execute(
        "SELECT request_hash, response FROM return_record WHERE return_id = ?",
        (request.return_id,),
    ).fetchone()
    if row is None:
        return None
    if row[0] != request.fingerprint():
        raise IdempotencyConflict(f"return {request.return_id} was already taken differently")
    return ReturnResult.model_validate_json(row[1]).model_copy(update={"replayed": True})


def current_policy(conn: sqlite3.Connection) -> ReturnPolicy:
    """The policy HQ last sent (the built-in default until it has)."""
    row = conn.execute("SELECT policy FROM return_policy WHERE id = 1").fetchone()
    return ReturnPolicy() if row is None else ReturnPolicy.model_validate_json(row[0])


def _refuse(auth: ReturnAuthorization) -> None:
    if auth.needs_override:
        raise NeedsOverride("; ".join(auth.needs_override))
    raise ReturnRefused(auth.reason or "the hub refused the return")


def _asks(found: Purchase, lines: list[ReturnLineIn]) -> list[ReturnLineAsk]:
    asks = []
    for line in lines:
        line_no = line.line_no
        if line_no is None:
            line_no = next((p.line_no for p in found.lines if p.sku == line.sku), None)
            if line_no is None:
                raise ReturnRefused(f"{line.sku} is not on purchase {found.purchase_id}")
        asks.append(
            ReturnLineAsk(line_no=line_no, quantity=line.quantity, condition=line.condition)
        )
    return asks


def _priced(
    conn: sqlite3.Connection, policy: ReturnPolicy, lines: list[ReturnLineIn]
) -> list[ReturnedLine]:
    """Lines known only by sku, priced from the catalog (offline and receipt-less returns)."""
    out = []
    for line in lines:
        if line.sku is None:
            raise ReturnRefused("give the sku of each item being returned")
        product = catalog.find(conn, line.sku)
        if product is None:
            raise ReturnRefused(f"{line.sku} is not in the catalog")
        disposition = policy.for_category(product.category).accepts.get(line.condition)
        if disposition is None:
            raise ReturnRefused(f"{product.name}: {line.condition} items are not accepted")
        out.append(
            ReturnedLine(
                sku=product.sku,
                quantity=line.quantity,
                condition=line.condition,
                disposition=disposition,
                refund_cents=line.quantity * product.price_cents,
            )
        )
    return out


def _category(conn: sqlite3.Connection, sku: str) -> str:
    product = catalog.find(conn, sku)
    return product.category if product else "general"


def _most_returned(own: Purchase, theirs: Purchase) -> Purchase:
    """The hub's view of an own sale, with returns taken here that it has not heard of yet."""
    mine = {line.line_no: line.returned for line in own.lines}
    return theirs.model_copy(
        update={
            "lines": tuple(
                line.model_copy(update={"returned": max(line.returned, mine.get(line.line_no, 0))})
                for line in theirs.lines
            )
        }
    )
