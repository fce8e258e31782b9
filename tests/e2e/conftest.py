"""The e2e chain fixture: broker + hub (SQLite or PostgreSQL) + store agents as real processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storelink_demo.brokers import BrokerProcess
from tests.conftest import PG_HOST, PG_PORT, require_service
from tests.e2e.chain import Chain

CATALOG = [
    {
        "sku": "MUG-1",
        "gtin": "4006381333931",
        "name": "Stoneware mug",
        "price_cents": 450,
        "category": "home",
    },
    {
        "sku": "TEE-2",
        "gtin": "0012345678905",
        "name": "Organic tee",
        "price_cents": 1500,
        "category": "apparel",
    },
    {"sku": "CAP-3", "name": "Cap", "price_cents": 900, "category": "apparel"},
]
SKUS = [p["sku"] for p in CATALOG]


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new PostgreSQL database for one test (the hub's tables start empty), dropped after."""
    try:
        import psycopg
    except ImportError as exc:
        require_service(False, f"psycopg is not installed: {exc}")
        raise
    name = f"storelink_e2e_{uuid.uuid4().hex[:10]}"
    dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres connect_timeout=3"
    try:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require_service(False, f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT}: {exc}")
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=["sqlite", "postgres"])
def hub_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


@pytest.fixture
def chain(tmp_path: Path, broker: BrokerProcess) -> Iterator[Chain]:
    """Broker and SQLite hub, nothing started yet beyond the broker."""
    running = Chain(tmp_path, broker, f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def chain_any_db(tmp_path: Path, broker: BrokerProcess, hub_database_url: str) -> Iterator[Chain]:
    """The same chain with the hub on SQLite and, as a second run, on PostgreSQL."""
    running = Chain(tmp_path, broker, hub_database_url)
    try:
        yield running
    finally:
        running.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach every process's log tail to the report: the cause is usually there."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        for name in ("chain", "chain_any_db"):
            running = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(running, Chain):
                report.sections.append(("process logs", running.logs()))
