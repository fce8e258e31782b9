"""Applying the hub's command stream: exactly once, in order, never blocked by one bad command.

The inbox is the ``commands_applied`` position, advanced in the same transaction as the effects,
so a replayed or duplicated batch changes nothing. A batch that starts past the next expected
sequence is a gap: nothing is applied and the hub is asked to resend (except for a store that
has never applied a command: it joins the stream where the hub is). A command that fails
validation or whose effect fails goes to ``command_quarantine`` with the reason, and its sequence
is consumed so the commands behind it still apply.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from edge_agent import catalog, fulfilment, ledger, outbox
from edge_agent.clock import iso
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.commands import (
    HUB_COMMAND,
    CatalogUpsert,
    HubCommand,
    OrderAllocation,
    OrderCancel,
    ResyncRequest,
    ReturnPolicySet,
    SafetyStockSet,
    StockPeers,
    StockView,
    StoreDirectory,
)
from storelink_contract.envelope import Batch, describe_validation_error
from storelink_contract.events import StockDigest, StockSnapshot, stock_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What to tell the hub: ack ``ack_upto``, or resend from ``resend_from``."""

    ack_upto: int
    resend_from: int | None = None
    applied: int = 0
    quarantined: int = 0


def apply_batch(
    conn: sqlite3.Connection, batch: Batch, now: datetime, policy: FulfilmentPolicy
) -> CommandOutcome:
    """Apply the new commands of ``batch`` inside the caller's write transaction."""
    applied_upto = outbox.position(conn, outbox.COMMANDS_APPLIED)
    if applied_upto == 0 and batch.first_seq > 1:
        # A store that has never applied a command (new, or its database was wiped) joins the
        # hub's stream where it is: the hub deletes acknowledged commands, so asking for the
        # earlier ones would loop forever. The hub re-seeds catalog and safety stock on the
        # birth that reported this empty position.
        log.info("joining the hub's command stream at %d", batch.first_seq)
        applied_upto = batch.first_seq - 1
    if batch.first_seq > applied_upto + 1:
        return CommandOutcome(ack_upto=applied_upto, resend_from=applied_upto + 1)
    applied = quarantined = 0
    for offset, item in enumerate(batch.items):
        seq = batch.first_seq + offset
        if seq <= applied_upto:
            continue
        try:
            command = HUB_COMMAND.validate_python(item)
        except ValidationError as exc:
            _quarantine(conn, seq, describe_validation_error(exc), item, now)
            quarantined += 1
            continue
        conn.execute("SAVEPOINT command")
        try:
            apply_command(conn, command, now, policy)
        except (sqlite3.Error, ValueError) as exc:
            conn.execute("ROLLBACK TO command")
            _quarantine(conn, seq, f"{type(exc).__name__}: {exc}", item, now)
            quarantined += 1
        else:
            applied += 1
        conn.execute("RELEASE command")
    outbox.set_position(conn, outbox.COMMANDS_APPLIED, batch.last_seq)
    return CommandOutcome(
        ack_upto=max(applied_upto, batch.last_seq), applied=applied, quarantined=quarantined
    )


def apply_command(
    conn: sqlite3.Connection, command: HubCommand, now: datetime, policy: FulfilmentPolicy
) -> None:
    """The effect of one hub command on the store database."""
    match command:
        case CatalogUpsert():
            catalog.upsert(conn, command.products, command.at)
        case SafetyStockSet():
            conn.executemany(
                "INSERT INTO safety_stock (sku, quantity) VALUES (?, ?) "
                "ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity",
                [(level.sku, level.quantity) for level in command.levels],
            )
        case StockView():
            # Views are state: keep the newest per (store, sku), whatever order they arrive in.
            conn.executemany(
                "INSERT INTO peer_stock (store_id, sku, on_hand, available, as_of) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, sku) DO UPDATE SET "
                "on_hand = excluded.on_hand, available = excluded.available, "
                "as_of = excluded.as_of WHERE excluded.as_of > peer_stock.as_of",
                [
                    (e.store_id, e.sku, e.on_hand, e.available, iso(e.as_of))
                    for e in command.entries
                ],
            )
            conn.executemany(
                "INSERT INTO network_stock (sku, available, as_of) VALUES (?, ?, ?) "
                "ON CONFLICT (sku) DO UPDATE SET available = excluded.available, "
                "as_of = excluded.as_of WHERE excluded.as_of > network_stock.as_of",
                [(n.sku, n.available, iso(command.at)) for n in command.network],
            )
        case StockPeers():
            marks = ",".join("?" * len(command.stores))
            conn.execute(
                f"DELETE FROM peer_stock WHERE store_id NOT IN ({marks})",  # noqa: S608  (marks only)
                command.stores,
            )
        case ResyncRequest():
            log.info("hub asked for a stock snapshot: %s", command.reason)
            record_snapshot(conn, now)
        case OrderAllocation():
            status = fulfilment.apply_allocation(conn, policy, command, now)
            log.info("order %s (%s): %s", command.order_id, command.allocation_id, status)
        case OrderCancel():
            if fulfilment.apply_cancel(conn, command, now):
                log.info("order %s released: %s", command.order_id, command.reason)
        case ReturnPolicySet():
            conn.execute(
                "INSERT INTO return_policy (id, policy, updated_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, "
                "updated_at = excluded.updated_at",
                (command.policy.model_dump_json(), iso(command.at)),
            )
        case StoreDirectory():
            conn.execute("DELETE FROM peer_store")
            conn.executemany(
                "INSERT INTO peer_store (store_id, name, lat, lon) VALUES (?, ?, ?, ?)",
                [(s.store_id, s.name, s.lat, s.lon) for s in command.stores],
            )


def record_snapshot(conn: sqlite3.Connection, now: datetime) -> int:
    """Put the full on-hand into the event stream; the hub replaces its view with it."""
    on_hand = dict(ledger.on_hand_rows(conn))
    return outbox.append(conn, StockSnapshot(at=now, on_hand=on_hand))


def record_digest(conn: sqlite3.Connection, now: datetime) -> int:
    """Put a count and hash of on-hand into the stream, at this exact stream position."""
    count, digest = stock_digest(ledger.on_hand_rows(conn))
    return outbox.append(conn, StockDigest(at=now, sku_count=count, digest=digest))


def _quarantine(
    conn: sqlite3.Connection, seq: int, reason: str, item: object, now: datetime
) -> None:
    log.warning("quarantined hub command %d: %s", seq, reason)
    conn.execute(
        "INSERT INTO command_quarantine (seq, reason, payload, received_at) VALUES (?, ?, ?, ?)",
        (seq, reason, json.dumps(item, default=str)[:100_000], iso(now)),
    )
