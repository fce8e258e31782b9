"""The command outbox: per-store sequences, pending reads and ack deletion."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from sqlalchemy import Engine, select

from cloud_hub import commands, fleet
from cloud_hub.db import CommandOutbox, Store, table
from storelink_contract.commands import HUB_COMMAND, ResyncRequest


def _register(engine: Engine, now: datetime, *store_ids: str) -> None:
    with engine.begin() as conn:
        for s in store_ids:
            fleet.ensure_store(conn, s, now)


def test_sequences_are_per_store_and_contiguous(engine: Engine, now: datetime) -> None:
    _register(engine, now, "s1", "s2")
    cmd = ResyncRequest(at=now, reason="test")
    with engine.begin() as conn:
        first = commands.enqueue(conn, ["s1", "s2"], cmd, now)
        second = commands.enqueue(conn, ["s1"], cmd, now)
        third = commands.enqueue_for_store(conn, "s2", [cmd, cmd], now)
    assert first == {"s1": 1, "s2": 1}
    assert second == {"s1": 2}
    assert third == [2, 3]
    with engine.connect() as conn:
        pending = commands.pending(conn, "s2", after_seq=0, limit=10)
    assert [p.seq for p in pending] == [1, 2, 3]
    parsed = HUB_COMMAND.validate_python(json.loads(pending[0].payload))
    assert parsed == cmd


def test_pending_respects_cursor_and_limit(engine: Engine, now: datetime) -> None:
    _register(engine, now, "s1")
    cmd = ResyncRequest(at=now, reason="x")
    with engine.begin() as conn:
        commands.enqueue_for_store(conn, "s1", [cmd] * 10, now)
        assert [p.seq for p in commands.pending(conn, "s1", 4, 3)] == [5, 6, 7]


def test_acknowledge_deletes_and_records(engine: Engine, now: datetime) -> None:
    _register(engine, now, "s1")
    cmd = ResyncRequest(at=now, reason="x")
    with engine.begin() as conn:
        commands.enqueue_for_store(conn, "s1", [cmd] * 5, now)
        assert commands.acknowledge(conn, "s1", 3) == 3
        assert [p.seq for p in commands.pending(conn, "s1", 0, 10)] == [4, 5]
        # An ack beyond anything ever allocated is clamped, never trusted.
        assert commands.acknowledge(conn, "s1", 99) == 5
        assert commands.pending(conn, "s1", 0, 10) == []
        # A stale, lower ack does not move the position back.
        assert commands.acknowledge(conn, "s1", 2) == 5
        s = table(Store)
        acked = conn.execute(select(s.c.commands_acked_upto)).scalar_one()
        out = conn.execute(select(table(CommandOutbox))).all()
    assert acked == 5
    assert out == []


def test_concurrent_allocation_never_hands_out_a_number_twice(
    engine: Engine, now: datetime
) -> None:
    _register(engine, now, "s1")
    seen: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            with engine.begin() as conn:
                seq = commands.allocate(conn, "s1")
            with lock:
                seen.append(seq)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 41))
