"""Ingest of a store's event stream: idempotent, gap-aware, and never blocked by one bad item.

Pure domain over a SQLAlchemy ``Connection`` (the caller owns the transaction; no MQTT here).
The inbox is the store's ``events_applied_upto`` plus the ``store_event`` primary key, both
written in the same transaction as the stock effect, so a replayed or duplicated batch changes
nothing and a crash between apply and ack just means the batch is applied-and-acked next time.

Per batch (sequences are contiguous inside it):

- first_seq beyond applied_upto + 1: a gap. Nothing is applied; ``resend_from`` asks for the
  missing part.
- items at or below applied_upto: duplicates, skipped; applied_upto is acked again.
- a new item that does not validate (or whose type comes from a newer agent) is quarantined
  with the reason and its sequence is consumed, so the stream moves on.
- valid events are inserted in one executemany, and on-hand gets one upsert per sku touched,
  with the deltas summed per sku in Python first (a 500-event batch is one transaction and a
  handful of statements, not 500 round trips).
- ``StockSnapshot`` replaces the store's view wholesale; ``StockDigest`` is checked against the
  view at that point of the stream and asks for a resync on mismatch.

If the bulk apply is refused by the database, the events are applied one at a time in SAVEPOINTs
and the ones the database refuses are quarantined.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cloud_hub import counts, fleet, quarantine
from cloud_hub.db import Store, StoreEvent, StoreStock, bind_datetime, executemany, table, upsert
from cloud_hub.errors import EventRefused
from cloud_hub.orders import lifecycle
from cloud_hub.orders.rules import OrderRules
from cloud_hub.returns import authority, index
from storelink_contract.envelope import Batch, describe_validation_error
from storelink_contract.events import (
    STORE_EVENT,
    EventBatch,
    SaleRecorded,
    StockAdjusted,
    StockDigest,
    StockSnapshot,
    stock_digest,
)
from storelink_contract.events import StoreEvent as WireEvent
from storelink_contract.order_events import SECRET_FIELDS
from storelink_contract.returns import ReturnRecorded
from storelink_contract.topics import store_topic

log = logging.getLogger(__name__)

_S = table(Store)
_E = table(StoreEvent)
_ST = table(StoreStock)

_EVENT_LIST: TypeAdapter[list[WireEvent]] = TypeAdapter(list[WireEvent])
_ADD_ON_HAND = (
    "ON CONFLICT (store_id, sku) DO UPDATE SET "
    "on_hand = store_stock.on_hand + excluded.on_hand, updated_at = excluded.updated_at"
)
_E_COLUMNS = ("store_id", "seq", "type", "at", "payload")
#: One encoder for all items: json.dumps with non-default arguments builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)

KNOWN_EVENT_TYPES = frozenset(
    str(cls.model_fields["type"].default) for cls in get_args(get_args(WireEvent)[0])
)


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    seq: int
    reason: str


@dataclass
class IngestResult:
    """What one batch did and what the link should answer.

    Exactly one of ``ack_upto`` (acknowledge this position) and ``resend_from`` (a gap: ask the
    store to send again from here) is set.
    """

    applied: int = 0
    duplicates: int = 0
    ack_upto: int | None = None
    resend_from: int | None = None
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    #: Skus whose on-hand at this store changed: input to the fan-out.
    changed_skus: set[str] = field(default_factory=set)
    #: Set when a digest disagreed with the hub's view: the link asks the store for a snapshot.
    resync_reason: str | None = None
    #: Set when an already-applied sequence arrived with a different event: the store's stream
    #: restarted (database wiped or restored). Nothing was applied and nothing may be acked:
    #: an ack would make the store delete sales the hub never saw.
    conflict: str | None = None
    conflict_epoch: str | None = None


@dataclass
class _Applied:
    applied: int = 0
    changed: set[str] = field(default_factory=set)
    resync_reason: str | None = None
    last_at: datetime | None = None


#: (seq, the raw item when the batch came raw (for quarantine), the validated event)
_Parsed = tuple[int, dict[str, object] | None, WireEvent]


def apply_event_batch(
    conn: Connection,
    store_id: str,
    batch: Batch | EventBatch,
    now: datetime,
    rules: OrderRules | None = None,
) -> IngestResult:
    """Apply ``batch`` from ``store_id`` inside the caller's transaction.

    ``batch`` is either already validated (``EventBatch``, the fast path) or raw items
    (``Batch``) that are validated here one by one when needed.
    """
    topic = store_topic(store_id, "up", "events")
    fleet.touch(conn, store_id, now)
    row = conn.execute(
        select(
            _S.c.events_applied_upto,
            _S.c.events_epoch,
            _S.c.stream_conflict,
            _S.c.conflict_epoch,
            _S.c.last_event_at,
        )
        .where(_S.c.store_id == store_id)
        .with_for_update()
    ).one()
    applied_upto = int(row.events_applied_upto)
    epoch = batch.epoch
    continues = (
        epoch is not None
        and epoch not in (row.events_epoch, row.conflict_epoch)
        and batch.first_seq == applied_upto + 1
    )
    if row.stream_conflict is not None and not continues:
        # Sticky: until a new stream continues after the hub's position, nothing from this
        # store is applied, acked or answered with a resend (either would make it delete).
        return IngestResult(conflict=row.stream_conflict, conflict_epoch=row.conflict_epoch)
    if (
        not continues
        and epoch is not None
        and row.events_epoch is not None
        and epoch != row.events_epoch
    ):
        return IngestResult(
            conflict=(
                f"store {store_id} sent events of a new stream (epoch {epoch}, from sequence "
                f"{batch.first_seq}) while the hub has applied up to {applied_upto} of its "
                f"old one: its database was replaced. Nothing more is applied until the store "
                f"rebases its unsent events (storelink-agent stream rebase --after "
                f"{applied_upto})"
            ),
            conflict_epoch=epoch,
        )
    if batch.first_seq > applied_upto + 1:
        return IngestResult(resend_from=applied_upto + 1)
    result = IngestResult()
    skip = max(0, applied_upto - batch.first_seq + 1)
    result.duplicates = min(skip, len(batch.items))
    if skip:
        conflict = _conflicting_duplicate(conn, store_id, batch, result.duplicates, applied_upto)
        if conflict is not None:
            return IngestResult(
                duplicates=result.duplicates, conflict=conflict, conflict_epoch=epoch
            )
    if skip >= len(batch.items):
        result.ack_upto = applied_upto
        return result

    parsed = _validate(conn, store_id, topic, batch, skip, now, result)

    applied = _apply_all_or_one_by_one(
        conn, store_id, topic, parsed, now, result, rules or OrderRules()
    )
    result.applied = applied.applied
    result.changed_skus = applied.changed
    result.resync_reason = applied.resync_reason

    values: dict[str, object] = {
        "events_applied_upto": batch.last_seq,
        "stream_conflict": None,
        "conflict_epoch": None,
    }
    if epoch is not None:
        values["events_epoch"] = epoch
    if applied.last_at is not None:
        # "As of" for other stores' kiosks: only ever forwards, and never past the hub's clock,
        # so a till replaying an old sale or running fast cannot freeze the figures others see.
        last_at = min(applied.last_at, now)
        if row.last_event_at is None or last_at > row.last_event_at:
            values["last_event_at"] = last_at
        values["sync_lag_s"] = max(0.0, (now - applied.last_at).total_seconds())
    conn.execute(update(_S).where(_S.c.store_id == store_id).values(**values))
    result.ack_upto = batch.last_seq
    return result


def _conflicting_duplicate(
    conn: Connection, store_id: str, batch: Batch | EventBatch, count: int, applied_upto: int
) -> str | None:
    """Compare the first ``count`` items (already applied sequences) with what was applied.

    A resend carries the same events; a store whose database was wiped or restored numbers
    different events from 1 again, and acking those as duplicates would lose them silently.
    Compared on what identifies an event (type, time, stock effect), so a field added by a
    later contract version or a formatting change never counts as different. Resends are
    rare, so this read costs nothing in steady state.
    """
    first = batch.first_seq
    stored = dict(
        conn.execute(
            select(_E.c.seq, _E.c.payload).where(
                _E.c.store_id == store_id, _E.c.seq.between(first, first + count - 1)
            )
        ).all()
    )
    for offset in range(count):
        seq = first + offset
        before = stored.get(seq)
        if before is None:
            continue  # nothing kept to compare with
        item = batch.items[offset]
        if isinstance(item, dict):
            try:
                item = STORE_EVENT.validate_python(item)
            except ValidationError:
                continue  # a malformed resend is not evidence of another stream
        if _identity(json.loads(item.model_dump_json())) != _identity(json.loads(before)):
            return (
                f"store {store_id} sent a different event as sequence {seq}, which was already "
                f"applied: its database was replaced or restored. Nothing more is applied until "
                f"the store rebases its unsent events after the hub's position "
                f"(storelink-agent stream rebase --after {applied_upto})"
            )
    return None


def _identity(event: dict[str, object]) -> tuple[object, ...]:
    return (event.get("type"), event.get("at"), json.dumps(event.get("deltas"), sort_keys=True))


def _validate(
    conn: Connection,
    store_id: str,
    topic: str,
    batch: Batch | EventBatch,
    skip: int,
    now: datetime,
    result: IngestResult,
) -> list[_Parsed]:
    first = batch.first_seq + skip
    if isinstance(batch, EventBatch):
        return [(first + i, None, event) for i, event in enumerate(batch.items[skip:])]
    new_items = batch.items[skip:]
    try:
        # One call for the whole list is ~2x faster than one per item; almost every batch is
        # clean, and a dirty one is validated again item by item to find the bad ones.
        events = _EVENT_LIST.validate_python(new_items)
    except ValidationError:
        pass
    else:
        return [
            (first + i, item, ev)
            for i, (item, ev) in enumerate(zip(new_items, events, strict=True))
        ]
    parsed: list[_Parsed] = []
    for offset, item in enumerate(new_items):
        seq = first + offset
        try:
            parsed.append((seq, item, STORE_EVENT.validate_python(item)))
        except ValidationError as exc:
            reason = _invalid_reason(seq, item, exc)
            _quarantine(conn, store_id, topic, seq, reason, item, now, result)
    return parsed


def _invalid_reason(seq: int, item: dict[str, object], exc: ValidationError) -> str:
    kind = item.get("type")
    if isinstance(kind, str) and kind not in KNOWN_EVENT_TYPES:
        return f"event {seq}: unknown event type {kind!r} (sent by a newer agent?)"
    return f"event {seq}: invalid {kind!r}: {describe_validation_error(exc)}"


def _quarantine(
    conn: Connection,
    store_id: str,
    topic: str,
    seq: int,
    reason: str,
    item: dict[str, object],
    now: datetime,
    result: IngestResult,
) -> None:
    log.warning("store %s: quarantined %s", store_id, reason)
    secret = SECRET_FIELDS.get(str(item.get("type")), ())
    item = {k: ("<redacted>" if k in secret else v) for k, v in item.items()}
    quarantine.record(
        conn,
        store_id=store_id,
        topic=topic,
        seq=seq,
        reason=reason,
        payload=_JSON.encode(item),
        now=now,
    )
    result.quarantined.append(QuarantinedItem(seq, reason))


def _apply_all_or_one_by_one(
    conn: Connection,
    store_id: str,
    topic: str,
    parsed: list[_Parsed],
    now: datetime,
    result: IngestResult,
    rules: OrderRules,
) -> _Applied:
    if not parsed:
        return _Applied()
    try:
        with conn.begin_nested():
            return _apply(conn, store_id, parsed, now, rules)
    except _REFUSED as exc:
        if isinstance(exc, DBAPIError) and _is_connection_error(exc):
            raise
        log.warning(
            "store %s: bulk apply of %d events refused (%s); applying one by one",
            store_id,
            len(parsed),
            exc.orig if isinstance(exc, DBAPIError) else exc,
        )
    total = _Applied()
    for one in parsed:
        try:
            with conn.begin_nested():
                part = _apply(conn, store_id, [one], now, rules)
        except _REFUSED as exc:
            if isinstance(exc, DBAPIError) and _is_connection_error(exc):
                raise
            why = _why(exc)
            reason = f"event {one[0]}: {why}"
            raw = one[1] if one[1] is not None else one[2].model_dump(mode="json")
            _quarantine(conn, store_id, topic, one[0], reason, raw, now, result)
            continue
        total.applied += part.applied
        total.changed |= part.changed
        total.resync_reason = part.resync_reason or total.resync_reason
        total.last_at = part.last_at or total.last_at
    return total


#: What applying one event may raise that is the event's fault: the database refusing it, the
#: domain refusing it, or a value the contract let through but a driver cannot hold. Any of
#: these quarantines that one event; nothing may stop the stream behind it.
_REFUSED = (DBAPIError, EventRefused, ValueError, ArithmeticError)


def _why(exc: Exception) -> str:
    if isinstance(exc, DBAPIError):
        return f"database refused it: {exc.orig}"
    if isinstance(exc, EventRefused):
        return str(exc)
    return f"it could not be applied: {type(exc).__name__}: {exc}"[:500]


def _is_connection_error(exc: DBAPIError) -> bool:
    # A lost connection is no fault of the events: let the whole batch fail and be resent.
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def _apply(
    conn: Connection, store_id: str, parsed: list[_Parsed], now: datetime, rules: OrderRules
) -> _Applied:
    # The stored payload is the validated event re-serialised by pydantic (canonical, and
    # twice as fast as json.dumps of the raw item), without the secrets meant for customers.
    ats = [bind_datetime(conn, event.at) for _seq, _item, event in parsed]
    executemany(
        conn,
        _E,
        _E_COLUMNS,
        [
            (
                store_id,
                seq,
                event.type,
                at,
                event.model_dump_json(exclude=SECRET_FIELDS.get(event.type)),
            )
            for (seq, _item, event), at in zip(parsed, ats, strict=True)
        ],
    )
    out = _Applied(applied=len(parsed), last_at=parsed[-1][2].at)
    sums: dict[str, int] = {}
    # Sales are indexed as purchases in bulk, before anything in the batch reads them.
    sales: list[tuple[int, SaleRecorded, object]] = []
    for (seq, _item, event), at in zip(parsed, ats, strict=True):
        if isinstance(event, StockSnapshot):
            _add_deltas(conn, store_id, sums, now, out.changed)
            out.changed |= _replace_view(conn, store_id, event.on_hand, now)
            continue
        for d in event.deltas:
            sums[d.sku] = sums.get(d.sku, 0) + d.delta
        if isinstance(event, SaleRecorded):
            sales.append((seq, event, at))
        elif event.type in lifecycle.HANDLED:
            # Orders route on the hub's stock view: bring it up to this event first.
            _add_deltas(conn, store_id, sums, now, out.changed)
            lifecycle.apply(conn, store_id, seq, event, now, rules)
        elif isinstance(event, ReturnRecorded):
            # A return may be of a sale just before it.
            authority.check_late_returns(conn, index.add_sales(conn, store_id, sales), now)
            sales.clear()
            authority.verify(conn, store_id, event, now, seq)
        elif isinstance(event, StockAdjusted) and event.counted_skus is not None:
            counts.record(conn, store_id, event)
        elif isinstance(event, StockDigest):
            _add_deltas(conn, store_id, sums, now, out.changed)
            mismatch = _check_digest(conn, store_id, seq, event)
            if mismatch is not None:
                out.resync_reason = mismatch
    _add_deltas(conn, store_id, sums, now, out.changed)
    authority.check_late_returns(conn, index.add_sales(conn, store_id, sales), now)
    return out


def _add_deltas(
    conn: Connection, store_id: str, sums: dict[str, int], now: datetime, changed: set[str]
) -> None:
    touched = [(sku, delta) for sku, delta in sums.items() if delta != 0]
    sums.clear()
    if not touched:
        return
    at = bind_datetime(conn, now)
    executemany(
        conn,
        _ST,
        ("store_id", "sku", "on_hand", "updated_at"),
        [(store_id, sku, delta, at) for sku, delta in touched],
        on_conflict=_ADD_ON_HAND,
    )
    changed.update(sku for sku, _ in touched)


def current_view(conn: Connection, store_id: str) -> dict[str, int]:
    """The hub's on-hand per sku for one store."""
    rows = conn.execute(select(_ST.c.sku, _ST.c.on_hand).where(_ST.c.store_id == store_id))
    return {sku: int(qty) for sku, qty in rows}


def _replace_view(
    conn: Connection, store_id: str, on_hand: dict[str, int], now: datetime
) -> set[str]:
    current = current_view(conn, store_id)
    changed = {
        sku for sku in current.keys() | on_hand.keys() if current.get(sku, 0) != on_hand.get(sku, 0)
    }
    zeroed = [{"b_sku": sku} for sku in changed if sku not in on_hand]
    if zeroed:
        conn.execute(
            update(_ST)
            .where(_ST.c.store_id == store_id, _ST.c.sku == bindparam("b_sku"))
            .values(on_hand=0, updated_at=now),
            zeroed,
        )
    rows = [
        {"store_id": store_id, "sku": sku, "on_hand": on_hand[sku], "updated_at": now}
        for sku in changed
        if sku in on_hand
    ]
    if rows:
        stmt = upsert(conn, _ST)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["store_id", "sku"],
                set_={"on_hand": stmt.excluded.on_hand, "updated_at": stmt.excluded.updated_at},
            ),
            rows,
        )
    return changed


def _check_digest(conn: Connection, store_id: str, seq: int, event: StockDigest) -> str | None:
    count, digest = stock_digest(current_view(conn, store_id).items())
    if count == event.sku_count and digest == event.digest:
        return None
    return (
        f"stock digest mismatch at event {seq}: store has {event.sku_count} skus "
        f"({event.digest[:12]}), hub has {count} ({digest[:12]})"
    )


def replay_item(
    conn: Connection,
    store_id: str,
    seq: int,
    item: dict[str, object],
    now: datetime,
    rules: OrderRules,
) -> set[str]:
    """Apply one quarantined event, at its own sequence, after a fix (a hub upgrade that knows
    a new event type, a catalog entry added): what it changes now is what it would have
    changed then. ``EventRefused`` says why it still cannot be applied. Returns the skus whose
    on-hand changed (for the fan-out)."""
    try:
        event = STORE_EVENT.validate_python(item)
    except ValidationError as exc:
        raise EventRefused(f"still not a valid event: {_invalid_reason(seq, item, exc)}") from exc
    done = conn.execute(select(_E.c.seq).where(_E.c.store_id == store_id, _E.c.seq == seq)).first()
    if done is not None:
        raise EventRefused(f"event {seq} of {store_id} is applied already")
    with conn.begin_nested():
        applied = _apply(conn, store_id, [(seq, item, event)], now, rules)
    return applied.changed
