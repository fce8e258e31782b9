"""The shared test fixtures do what other tests rely on: a working throwaway PostgreSQL
database, a broker that can be stopped and brought back, and a leak guard that sees leaked
threads and child processes."""

from __future__ import annotations

import subprocess
import threading

import pytest
import sqlalchemy as sa

from storelink_demo.brokers import BrokerProcess
from tests.support import leaks
from tests.support.mqtt import MqttProbe


def test_pg_url_is_a_usable_database_of_its_own(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/storelink_test_")
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (id int PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1) ON CONFLICT DO NOTHING"))
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
        assert pg_url.endswith(f"/{name}")
    finally:
        engine.dispose()


def test_the_broker_fixture_survives_an_outage(broker: BrokerProcess) -> None:
    username, password = broker.hub_credentials()
    broker.stop()
    with (
        MqttProbe(broker, username=username, password=password) as client,
        pytest.raises(ConnectionRefusedError),
    ):
        client.connect(timeout=1.0)
    broker.start()
    with MqttProbe(broker, username=username, password=password) as client:
        client.connected()


def test_the_leak_guard_sees_a_leftover_thread_and_child() -> None:
    before = leaks.snapshot()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="forgotten-worker")
    thread.start()
    child = subprocess.Popen(["sleep", "30"])
    try:
        found = leaks.leaked(before, grace_s=0.2)
        assert thread in found.threads
        assert child.pid in found.children
        assert "sleep 30" in found.describe()
    finally:
        stop.set()
        thread.join()
        child.kill()
        child.wait()
    assert not leaks.leaked(before, grace_s=0.2)


def test_the_leak_guard_ignores_daemon_helpers_but_not_mqtt_threads() -> None:
    before = leaks.snapshot()
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, name="some-library-helper", daemon=True)
    mqtt = threading.Thread(target=stop.wait, name="mqtt-store-a", daemon=True)
    helper.start()
    mqtt.start()
    try:
        assert leaks.leaked(before, grace_s=0.1).threads == [mqtt]
    finally:
        stop.set()
        helper.join()
        mqtt.join()
