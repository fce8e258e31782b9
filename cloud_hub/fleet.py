"""Fleet status: which stores exist, which are online, how far behind each one is.

Stores register themselves by sending anything: the first message creates the row. Session state
follows Sparkplug: a birth (retained) marks the store online with a new ``bdseq``, status updates
refresh the backlog figures, and the death (the store's MQTT will) marks it offline, unless its
``bdseq`` is older than the current birth's: a late will from a previous connection must not
turn a store that has already reconnected offline. Called by the inbound handlers and the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import Connection

from cloud_hub.db import CommandOutbox, Store, table, upsert
from cloud_hub.schemas import StoreStatus
from storelink_contract.session import StoreState

_S = table(Store)
_OUT = table(CommandOutbox)


def ensure_store(conn: Connection, store_id: str, now: datetime) -> None:
    """Register ``store_id`` if it is new (safe under concurrent first messages)."""
    stmt = upsert(conn, _S).values(store_id=store_id, first_seen=now, last_seen=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["store_id"]))


def touch(conn: Connection, store_id: str, now: datetime) -> None:
    """Register if new, and record that the store was heard from at ``now``."""
    stmt = upsert(conn, _S).values(store_id=store_id, first_seen=now, last_seen=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["store_id"], set_={"last_seen": now}))


@dataclass(frozen=True, slots=True)
class StateOutcome:
    """What a state message changed; a birth makes the link rewind and re-send the view."""

    kind: str
    applied: bool
    commands_applied_upto: int = 0


def apply_state(conn: Connection, state: StoreState, now: datetime) -> StateOutcome:
    """Apply a birth, status or death for ``state.store_id`` in the caller's transaction."""
    touch(conn, state.store_id, now)
    current = conn.execute(
        select(_S.c.bdseq, _S.c.online).where(_S.c.store_id == state.store_id).with_for_update()
    ).one()
    figures = {
        "backlog": state.backlog,
        "oldest_unsent_age_s": state.oldest_unsent_age_s,
        "commands_applied_upto": state.commands_applied_upto,
        "devices": json.dumps([d.model_dump(mode="json") for d in state.devices]),
    }
    where = _S.c.store_id == state.store_id
    # A status from a newer session than the hub knows means its birth was missed (the hub was
    # down when it came, and the retained message is a status by now): it counts as a birth.
    if state.kind == "birth" or (state.kind == "status" and state.bdseq > current.bdseq):
        conn.execute(
            update(_S)
            .where(where)
            .values(online=True, bdseq=state.bdseq, version=state.version, **figures)
        )
        return StateOutcome("birth", True, state.commands_applied_upto)
    if state.bdseq < current.bdseq:
        # A will or status from an earlier session: the current session has already spoken.
        return StateOutcome(state.kind, False)
    if state.kind == "death":
        conn.execute(update(_S).where(where).values(online=False, bdseq=state.bdseq))
        return StateOutcome("death", True)
    conn.execute(update(_S).where(where).values(**figures))
    return StateOutcome("status", True, state.commands_applied_upto)


def online_store_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(_S.c.store_id).where(_S.c.online)).scalars())


def all_store_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(_S.c.store_id).order_by(_S.c.store_id)).scalars())


def store_exists(conn: Connection, store_id: str) -> bool:
    row = conn.execute(select(_S.c.store_id).where(_S.c.store_id == store_id)).first()
    return row is not None


def _status_query(store_id: str | None = None) -> Select[Any]:
    pending = select(_OUT.c.store_id, func.count().label("n")).group_by(_OUT.c.store_id).subquery()
    stmt = select(_S, func.coalesce(pending.c.n, 0).label("commands_pending")).outerjoin(
        pending, pending.c.store_id == _S.c.store_id
    )
    if store_id is not None:
        stmt = stmt.where(_S.c.store_id == store_id)
    return stmt


def statuses(conn: Connection) -> list[StoreStatus]:
    """Every store, those in trouble first: stream conflict, offline, then the biggest backlog."""
    rows = [StoreStatus.model_validate(r._mapping) for r in conn.execute(_status_query())]
    rows.sort(
        key=lambda s: (
            s.stream_conflict is None,
            s.online,
            -s.backlog,
            -(s.sync_lag_s or 0.0),
            s.store_id,
        )
    )
    return rows


def status(conn: Connection, store_id: str) -> StoreStatus | None:
    row = conn.execute(_status_query(store_id)).first()
    return None if row is None else StoreStatus.model_validate(row._mapping)


def flag_stream_conflict(conn: Connection, store_id: str, reason: str, epoch: str | None) -> bool:
    """Mark the store's event stream as conflicting; True if it was not marked before."""
    flagged = conn.execute(
        update(_S)
        .where(_S.c.store_id == store_id, _S.c.stream_conflict.is_(None))
        .values(stream_conflict=reason, conflict_epoch=epoch)
    )
    return bool(flagged.rowcount)
