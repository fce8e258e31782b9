"""Fixtures shared by every test: real brokers, a throwaway PostgreSQL database, and a guard that
fails a test which leaves threads or child processes behind.

Services that may be missing on a developer's machine (Mosquitto, PostgreSQL) skip the tests
that need them, unless ``STORELINK_REQUIRE_SERVICES=1`` (CI), where a missing service fails them:
a green run must never hide that the real broker or database was not exercised.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from storelink_demo.brokers import BrokerProcess, find_mosquitto, start_amqtt, start_mosquitto
from tests.support import leaks
from tests.support.services import REQUIRE_SERVICES, require_service, service_missing

STORE_IDS = ["store-a", "store-b", "store-c"]
"""The store identities every test broker knows (with the hub's)."""

PG_HOST = "127.0.0.1"
PG_PORT = 5432

__all__ = ["PG_HOST", "PG_PORT", "REQUIRE_SERVICES", "STORE_IDS", "require_service"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services their fixtures need, so ``-m "not postgres"`` selects."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "mosquitto_broker" in names:
            item.add_marker(pytest.mark.mosquitto)
        if "pg_url" in names:
            item.add_marker(pytest.mark.postgres)


# -- brokers -----------------------------------------------------------------------------------


BrokerFactory = Callable[..., BrokerProcess]


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start brokers on demand; every one is stopped at teardown.

    ``broker_factory(kind="mosquitto"|"amqtt"|"best", store_ids=[...], acl=True)``. "best" is
    Mosquitto with the ACL when installed, else amqtt; with ``STORELINK_REQUIRE_SERVICES=1``
    a missing Mosquitto fails instead of falling back.
    """
    started: list[BrokerProcess] = []

    def start(
        kind: str = "best", store_ids: list[str] | None = None, acl: bool = True
    ) -> BrokerProcess:
        workdir = tmp_path / f"broker-{len(started)}"
        has_mosquitto = find_mosquitto() is not None
        if kind == "mosquitto" or (kind == "best" and (has_mosquitto or REQUIRE_SERVICES)):
            if not has_mosquitto:
                service_missing("mosquitto is not installed (apt-get install mosquitto)")
            broker = start_mosquitto(
                workdir, store_ids=STORE_IDS if store_ids is None else store_ids, acl=acl
            )
        elif kind in ("amqtt", "best"):
            broker = start_amqtt(workdir=workdir)
        else:
            raise ValueError(f"unknown broker kind {kind!r}")
        started.append(broker)
        return broker

    yield start
    for broker in reversed(started):
        broker.stop()


@pytest.fixture
def mosquitto_broker(broker_factory: BrokerFactory) -> BrokerProcess:
    """Mosquitto with the project's password file and ACL, identities for ``STORE_IDS`` and the
    hub (``credentials(store_id)``, ``hub_credentials()``). Skips, or fails under
    ``STORELINK_REQUIRE_SERVICES=1``, when Mosquitto is not installed."""
    return broker_factory("mosquitto")


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> BrokerProcess:
    """The best broker here: Mosquitto with the ACL (MQTT 5) when installed, else the embedded
    amqtt (MQTT 3.1.1, anonymous: ``credentials()`` then returns None, None). Connect with
    ``broker.protocol``. ``broker.stop()`` / ``broker.start()`` simulate an outage."""
    return broker_factory("best")


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this test session, as a SQLAlchemy URL
    (``postgresql+psycopg://postgres@127.0.0.1:5432/NAME``); dropped at the end."""
    try:
        import psycopg
    except ImportError as exc:
        service_missing(f"psycopg is not installed (pip install -e .[postgres]): {exc}")

    name = f"storelink_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres connect_timeout=3"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT}: {exc}")

    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            # Pools left open by the code under test would block the DROP.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


# -- leaks -------------------------------------------------------------------------------------

# Threads and children started by fixtures wider than one test (session, module...) belong to
# those fixtures, not to the test that happened to set them up first.
owned_by_wide_fixtures: set[threading.Thread | int] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[None]:
    if fixturedef.scope == "function":
        yield
        return
    before = leaks.snapshot()
    yield
    after = leaks.snapshot()
    owned_by_wide_fixtures.update(after.threads - before.threads)
    owned_by_wide_fixtures.update(after.children - before.children)


@pytest.fixture(autouse=True)
def _no_leaked_threads_or_processes() -> Iterator[None]:
    """Fail a test that leaves a thread (non-daemon, or an MQTT connection thread) running or
    a child process alive once its fixtures are torn down (with a short grace period)."""
    before = leaks.snapshot()
    yield
    found = leaks.leaked(before, ignore=owned_by_wide_fixtures)
    if found:
        leaks.kill_children(list(found.children))
        pytest.fail(f"test left behind: {found.describe()}", pytrace=False)
