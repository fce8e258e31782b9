"""Fleet behaviour end to end: session state, drift repair, and the contract over MQTT 3.1.1."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from storelink_demo.brokers import BrokerProcess
from tests.e2e.chain import KIOSK_TOKEN, TILL_TOKEN, Chain, wait_for
from tests.e2e.test_sync import converged, receive, sell, start_two_stores


def store_status(chain: Chain, store_id: str) -> dict[str, Any]:
    status: dict[str, Any] = chain.hub.get(f"/v1/stores/{store_id}")  # type: ignore[union-attr]
    return status


def test_a_killed_store_goes_offline_at_the_hub_and_comes_back(chain: Chain) -> None:
    a, _ = start_two_stores(chain)
    first = wait_for(
        "store-a online",
        lambda: store_status(chain, "store-a")["online"] and store_status(chain, "store-a"),
    )
    a.kill()  # the broker publishes its will: the retained death
    wait_for("store-a to be seen offline", lambda: not store_status(chain, "store-a")["online"])
    fleet = chain.hub.get("/v1/stores")  # type: ignore[union-attr]
    assert fleet[0]["store_id"] == "store-a"  # stores in trouble first
    a.start()
    back = wait_for(
        "store-a back online",
        lambda: store_status(chain, "store-a")["online"] and store_status(chain, "store-a"),
    )
    assert back["bdseq"] > first["bdseq"]


def test_drift_at_the_hub_is_found_by_the_digest_and_repaired(chain: Chain) -> None:
    a, _ = start_two_stores(chain, digest_interval_s="1")
    receive(a, "MUG-1", 20)
    wait_for("convergence", lambda: converged(chain, "store-a"))
    # Something outside the protocol corrupts the hub's view (a restored backup, a bad fix).
    hub_db = Path(chain.hub_database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(hub_db) as conn:
        conn.execute(
            "UPDATE store_stock SET on_hand = on_hand + 5 WHERE store_id = 'store-a' "
            "AND sku = 'MUG-1'"
        )
    assert chain.hub_on_hand("store-a") == {"MUG-1": 25}
    with a.client(TILL_TOKEN) as till:
        sell(till, "MUG-1", 1)  # the next digest covers a new stream position
    assert wait_for(
        "the digest to trigger a snapshot that repairs the hub",
        lambda: chain.hub_on_hand("store-a") == {"MUG-1": 19} and converged(chain, "store-a"),
        30,
    )


def test_the_contract_works_over_mqtt_3_1_1_with_the_embedded_broker(
    tmp_path: Path, broker_factory: Callable[..., BrokerProcess]
) -> None:
    broker = broker_factory("amqtt")
    assert broker.protocol == "3.1.1"
    chain = Chain(tmp_path, broker, f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        a, b = start_two_stores(chain)
        receive(a, "TEE-2", 9)
        with a.client(TILL_TOKEN) as till:
            sell(till, "TEE-2", 4)

        def seen_at_b() -> bool:
            peers = b.get("/v1/stock/TEE-2", KIOSK_TOKEN)["other_stores"]
            return any(p["store_id"] == "store-a" and p["on_hand"] == 5 for p in peers)

        wait_for("store-a's sale at store-b's kiosk over MQTT 3.1.1", seen_at_b)
        assert converged(chain, "store-a") == {"TEE-2": 5}
        broker.stop()  # an outage of the embedded broker: the store keeps selling
        with a.client(TILL_TOKEN) as till:
            sell(till, "TEE-2", 1)
        broker.start()
        wait_for(
            "catch-up after the outage", lambda: converged(chain, "store-a") == {"TEE-2": 4}, 60
        )
    finally:
        chain.stop()


def test_a_wiped_store_database_loses_no_sale_and_is_repaired_by_a_rebase(chain: Chain) -> None:
    import subprocess

    from storelink_demo.processes import AGENT_ARGV

    a, _ = start_two_stores(chain)
    receive(a, "MUG-1", 10)
    wait_for("convergence", lambda: converged(chain, "store-a"))
    applied = store_status(chain, "store-a")["events_applied_upto"]

    a.stop()
    for path in (chain.workdir / "stores").glob("store-a.db*"):
        path.unlink()  # local storage cleared: the new database numbers events from 1 again
    a.start()
    with a.client(TILL_TOKEN) as till:
        till.post(
            "/v1/sales",
            json={
                "sale_id": "after-wipe",
                "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price_cents": 450}],
            },
        ).raise_for_status()

    conflict = wait_for(
        "the hub to flag the conflicting stream",
        lambda: store_status(chain, "store-a")["stream_conflict"],
    )
    assert f"rebase --after {applied}" in conflict
    assert chain.hub_on_hand("store-a") == {"MUG-1": 10}  # nothing misapplied
    assert chain.store_backlog("store-a") >= 1  # and nothing deleted at the store

    a.stop()
    rebase = subprocess.run(
        [*AGENT_ARGV[:-1], "stream", "rebase", "--after", str(applied)],
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rebase.returncode == 0, rebase.stderr
    a.start()
    wait_for(
        "the sale to reach the hub after the rebase",
        lambda: chain.hub_on_hand("store-a") == {"MUG-1": 8},
    )
    assert store_status(chain, "store-a")["stream_conflict"] is None
    wait_for("store-a's outbox to empty", lambda: chain.store_backlog("store-a") == 0)


def test_the_hub_stops_promptly_with_a_dashboard_stream_open(chain: Chain) -> None:
    """An open dashboard holds a live stream; SIGTERM must still stop the hub cleanly (its
    lifespan shutdown runs and it says it is offline), not wait for the browser."""
    hub = chain.start_hub()
    opened = threading.Event()

    ended_cleanly: list[bool] = []

    def watch() -> None:
        with hub.client() as client, client.stream("GET", "/v1/dashboard/events") as stream:
            try:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        opened.set()
            except httpx.RemoteProtocolError:  # cut off mid-stream: what must not happen
                ended_cleanly.append(False)
                return
        ended_cleanly.append(True)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert opened.wait(15)
    started = time.monotonic()
    hub.stop(timeout=20)
    assert hub.proc is not None
    # uvicorn re-raises the signal once shut down: SIGTERM, not the SIGKILL after the timeout
    assert hub.proc.returncode in (0, -signal.SIGTERM), hub.log_tail()
    assert time.monotonic() - started < 15
    assert "hub stopped" in hub.log_tail()
    watcher.join(10)
    assert ended_cleanly == [True]  # the stream ended, it was not cut off by the timeout
    assert "timeout graceful shutdown exceeded" not in hub.log_tail()
