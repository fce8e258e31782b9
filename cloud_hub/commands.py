"""The hub's command outbox: what each store still has to be told, in per-store sequence.

Commands are written here in the same transaction as the change that causes them (a catalog
push, a safety-stock change, a resync request, a fan-out view) and deleted only when the store's
application-level ack covers them. Each store has its own contiguous sequence, allocated with
one ``UPDATE ... RETURNING`` on ``command_stream``, which is atomic on SQLite and PostgreSQL
alike (two hub processes never hand out the same number). Called by the API, the fan-out and the
link; the link reads ``pending`` to send and ``acknowledge`` on acks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from cloud_hub.db import CommandOutbox, CommandStream, Store, table, upsert

_OUT = table(CommandOutbox)
_STREAM = table(CommandStream)
_S = table(Store)


@dataclass(frozen=True, slots=True)
class PendingCommand:
    seq: int
    payload: str


def allocate(conn: Connection, store_id: str, count: int = 1) -> int:
    """Reserve ``count`` contiguous sequence numbers for ``store_id``; returns the first."""
    if count < 1:
        raise ValueError("count must be at least 1")
    conn.execute(
        upsert(conn, _STREAM)
        .values(store_id=store_id, last_seq=0)
        .on_conflict_do_nothing(index_elements=["store_id"])
    )
    last = conn.execute(
        update(_STREAM)
        .where(_STREAM.c.store_id == store_id)
        .values(last_seq=_STREAM.c.last_seq + count)
        .returning(_STREAM.c.last_seq)
    ).scalar_one()
    return int(last) - count + 1


def enqueue(
    conn: Connection, store_ids: Iterable[str], command: BaseModel, now: datetime
) -> dict[str, int]:
    """Queue the same command for each store (serialised once); returns seq per store."""
    payload = command.model_dump_json()
    kind = str(getattr(command, "type", type(command).__name__))
    seqs = {store_id: allocate(conn, store_id) for store_id in dict.fromkeys(store_ids)}
    if seqs:
        conn.execute(
            insert(_OUT),
            [
                {"store_id": s, "seq": q, "type": kind, "payload": payload, "created_at": now}
                for s, q in seqs.items()
            ],
        )
    return seqs


def enqueue_for_store(
    conn: Connection, store_id: str, commands: Sequence[BaseModel], now: datetime
) -> list[int]:
    """Queue several commands for one store in order; returns their sequences."""
    if not commands:
        return []
    first = allocate(conn, store_id, len(commands))
    rows: list[dict[str, Any]] = [
        {
            "store_id": store_id,
            "seq": first + i,
            "type": str(getattr(cmd, "type", type(cmd).__name__)),
            "payload": cmd.model_dump_json(),
            "created_at": now,
        }
        for i, cmd in enumerate(commands)
    ]
    conn.execute(insert(_OUT), rows)
    return [r["seq"] for r in rows]


def pending(conn: Connection, store_id: str, after_seq: int, limit: int) -> list[PendingCommand]:
    """Up to ``limit`` unacknowledged commands for ``store_id`` with seq > ``after_seq``."""
    rows = conn.execute(
        select(_OUT.c.seq, _OUT.c.payload)
        .where(_OUT.c.store_id == store_id, _OUT.c.seq > after_seq)
        .order_by(_OUT.c.seq)
        .limit(limit)
    )
    return [PendingCommand(int(seq), payload) for seq, payload in rows]


def advance_past(conn: Connection, store_id: str, seq: int) -> None:
    """Allocate from ``seq + 1`` on: the store has applied up to ``seq`` already (the hub's
    database was restored from an older backup, so its own counter fell behind)."""
    allocate(conn, store_id, 1)  # makes sure the row exists
    conn.execute(
        update(_STREAM)
        .where(_STREAM.c.store_id == store_id, _STREAM.c.last_seq < seq)
        .values(last_seq=seq)
    )


def last_allocated(conn: Connection, store_id: str) -> int:
    row = conn.execute(
        select(_STREAM.c.last_seq).where(_STREAM.c.store_id == store_id)
    ).scalar_one_or_none()
    return int(row or 0)


def acknowledge(conn: Connection, store_id: str, upto: int) -> int:
    """The store has durably applied everything up to ``upto``: forget those commands.

    An ack beyond what was ever allocated is clamped (a confused or hostile store must not make
    the hub skip commands it has not sent yet). Returns the acked position now recorded.
    """
    upto = min(upto, last_allocated(conn, store_id))
    conn.execute(delete(_OUT).where(_OUT.c.store_id == store_id, _OUT.c.seq <= upto))
    conn.execute(
        update(_S)
        .where(_S.c.store_id == store_id, _S.c.commands_acked_upto < upto)
        .values(commands_acked_upto=upto)
    )
    acked = conn.execute(
        select(_S.c.commands_acked_upto).where(_S.c.store_id == store_id)
    ).scalar_one_or_none()
    return int(acked if acked is not None else upto)


def has_pending_of_type(conn: Connection, store_id: str, kind: str) -> bool:
    row = conn.execute(
        select(_OUT.c.seq).where(_OUT.c.store_id == store_id, _OUT.c.type == kind).limit(1)
    ).first()
    return row is not None


def online_streams(conn: Connection) -> dict[str, int]:
    """Online stores' last allocated command seq (one row per store, cheap to poll)."""
    rows = conn.execute(
        select(_STREAM.c.store_id, _STREAM.c.last_seq)
        .join(_S, _S.c.store_id == _STREAM.c.store_id)
        .where(_S.c.online)
    )
    return {store_id: int(last) for store_id, last in rows}


def backlog(conn: Connection, store_id: str) -> int:
    """Commands still waiting for the store's ack."""
    n = conn.execute(
        select(func.count()).select_from(_OUT).where(_OUT.c.store_id == store_id)
    ).scalar_one()
    return int(n)
