"""Fixtures for the hub's tests: every database test runs on a real SQLite file and on the
session's PostgreSQL database (``pg_url`` from the top-level conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from cloud_hub import counts, users
from cloud_hub.db import create_schema, make_engine
from cloud_hub.orders import tables as order_tables
from cloud_hub.returns import tables as return_tables
from tests.cloud_hub.order_helpers import open_hub

# registered with the metadata before drop_all() runs
assert order_tables.ORDER_TABLES
assert return_tables.RETURN_TABLES
assert users.USER_TABLES
assert counts.COUNT_TABLES


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('hub')}/hub.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A hub database with an empty schema (PostgreSQL's is shared, so it is recreated)."""
    eng = make_engine(db_url)
    if eng.dialect.name == "postgresql":
        SQLModel.metadata.drop_all(eng)
    create_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hub(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The HQ app on a fresh database (SQLite and PostgreSQL), three stores stocked."""
    with open_hub(db_url, tmp_path) as client:
        yield client
