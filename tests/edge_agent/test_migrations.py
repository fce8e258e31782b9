"""A newer agent opens an older store database and keeps every sale in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge_agent.db import StoreDB
from edge_agent.migrations import LATEST, NewerDatabase, migrate


def test_upgrading_a_version_1_database_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, upto=1)
    old.execute("INSERT INTO stock (sku, on_hand, updated_at) VALUES ('MUG-1', 7, 'x')")
    old.execute("INSERT INTO outbox (type, payload, created_at) VALUES ('sale_recorded', '{}', 0)")
    old.close()

    db = StoreDB(path)
    try:
        assert db.schema_found == 1
        conn = db.read()
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
        assert conn.execute("SELECT on_hand, needs_count FROM stock").fetchone() == (7, 0)
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM peer_stock").fetchone() == (0,)
    finally:
        db.close()


def test_a_database_from_a_newer_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(NewerDatabase, match="upgrade the agent"):
        StoreDB(path)


def test_the_database_runs_in_wal_with_full_sync(tmp_path: Path) -> None:
    db = StoreDB(tmp_path / "s.db")
    try:
        conn = db.read()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        db.close()
