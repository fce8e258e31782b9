"""Fixtures for the hub's tests: every database test runs on a real SQLite file and on the
session's PostgreSQL database (``pg_url`` from the top-level conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from cloud_hub.db import create_schema, make_engine


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
