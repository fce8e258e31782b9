"""Fixtures for the store agent: a real SQLite file per test, and the API with device tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge_agent.api.app import create_app
from edge_agent.db import StoreDB
from edge_agent.service import StoreAgent
from edge_agent.settings import AgentSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKENS = {
    "pos": "till-token-0123456789",
    "kiosk": "kiosk-token-0123456789",
    "staff": "staff-token-0123456789",
    "manager": "manager-token-0123456789",
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StoreDB]:
    store = StoreDB(tmp_path / "store.db")
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(
        store_id="store-a",
        data_dir=tmp_path,
        # nothing listens here: these tests exercise the store with the hub unreachable
        broker_url="mqtt://127.0.0.1:9",
        bootstrap_tokens=",".join(f"{role}-1:{role}:{token}" for role, token in TOKENS.items()),
    )


@pytest.fixture
def agent(settings: AgentSettings) -> Iterator[StoreAgent]:
    store_agent = StoreAgent(settings)
    store_agent.start()
    yield store_agent
    store_agent.stop()


@pytest.fixture
def api(agent: StoreAgent) -> Iterator[TestClient]:
    with TestClient(create_app(agent, manage_lifecycle=False)) as client:
        yield client


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}
