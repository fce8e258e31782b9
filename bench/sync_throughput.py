"""sync_throughput: events per second from a store's outbox to applied at the hub.

    python bench/sync_throughput.py [--events 100000] [--stores 20] [--ceiling-messages 30000]

Measures, in one run on one broker:
1. the ceiling: paho QoS 1 publish -> subscribe, one small message per event (TCP_NODELAY on);
2. one store draining a backlog of ``--events`` sales to a hub on SQLite (time from the agent's
   start until the hub has applied and acknowledged the last event and the outbox is empty);
3. ``--stores`` stores draining ``--events / --stores`` each at the same time, each its own
   ``storelink-agent`` process as in the field: the fleet catching up after a hub outage. The
   hub is paused (SIGSTOP) while the agents start and connect, so their start-up does not
   share the cores with the drain, then resumed; timed from the first event applied to the last.
The single store runs in this process (timed from its start); the hub is a real
``storelink-hub`` process on SQLite. Goal: >= 2x the per-message ceiling, 100k backlog < 10 s.
"""

from __future__ import annotations

import argparse
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from _common import emit, log, start_bench_broker
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.sales import SaleRequest, record_sale
from edge_agent.service import StoreAgent
from edge_agent.settings import AgentSettings
from storelink_demo.brokers import BrokerProcess, free_port
from storelink_demo.processes import AGENT_ARGV, HUB_ARGV, ManagedService, service_env

HUB_TOKEN = "bench-hub-token-0123456789"


def measure_ceiling(broker: BrokerProcess, messages: int, window: int = 300) -> float:
    """Raw paho QoS 1 publish->subscribe rate, one ~120-byte message per event.

    The publisher looks every 50 messages and keeps at most ``window`` ahead of the
    subscriber. Unthrottled, it outruns the subscriber and the broker drops QoS 1 messages past
    its queue limit (that would measure loss, not throughput); checking per message instead
    costs a lock round trip per message and measured ~30% slower.
    """
    protocol = paho.MQTTv5 if broker.protocol == "5" else paho.MQTTv311
    received = 0

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1  # one paho thread calls this; reads elsewhere tolerate a stale value

    def client(name: str) -> paho.Client:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=protocol)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", broker.port)
        c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        c.loop_start()
        return c

    sub = client("ceiling-sub")
    sub.on_message = on_message
    sub.subscribe("bench/ceiling", qos=1)
    time.sleep(0.5)
    pub = client("ceiling-pub")
    payload = (b'{"type":"sale_recorded","sku":"MUG-1","delta":-1,"reason":"sale"}' * 2)[:120]
    start = time.perf_counter()
    for sent in range(messages):
        if sent % 50 == 0:
            while sent - received > window:
                time.sleep(0.0002)
        pub.publish("bench/ceiling", payload, qos=1)
    deadline = time.perf_counter() + 60
    while received < messages and time.perf_counter() < deadline:
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    if received < messages:
        raise RuntimeError(f"ceiling: only {received} of {messages} messages arrived")
    return messages / elapsed


def fill_backlog(settings: AgentSettings, events: int) -> None:
    """Put ``events`` sales in a store's outbox through the real domain code (not timed)."""
    agent_db = StoreAgent(settings).db  # migrations and tokens, without starting the uplink
    now = datetime.now(UTC)
    done = 0
    while done < events:
        with agent_db.write() as conn:
            for _ in range(min(1000, events - done)):
                done += 1
                record_sale(
                    conn,
                    SaleRequest(
                        sale_id=f"bench-{done}",
                        lines=[
                            {"sku": f"SKU-{done % 500}", "quantity": 1, "unit_price_cents": 199}
                        ],
                    ),
                    "till-bench",
                    now,
                )
    agent_db.close()


def _store_settings(workdir: Path, broker: BrokerProcess, n: int) -> AgentSettings:
    return AgentSettings(
        store_id=f"bench-{n:03d}-{workdir.name}",
        data_dir=workdir / "stores",
        broker_url=broker.url,
        mqtt_protocol=broker.protocol,
        http_port=0,
        status_interval_s=60,
        digest_interval_s=3600,
    )


def _applied(client: httpx.Client, store_ids: set[str]) -> list[int]:
    fleet = {s["store_id"]: s for s in client.get("/v1/stores").json()}
    return [fleet.get(sid, {}).get("events_applied_upto", 0) for sid in store_ids]


def drain_in_process(
    hub: ManagedService, broker: BrokerProcess, workdir: Path, events: int
) -> float:
    """One store agent in this process: seconds from its start to all applied and acked."""
    settings = _store_settings(workdir, broker, 0)
    fill_backlog(settings, events)
    agent = StoreAgent(settings)
    client = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {HUB_TOKEN}"})
    start = time.perf_counter()
    agent.start()
    try:
        while _applied(client, {settings.store_id})[0] < events or agent.uplink.status().backlog:
            if time.perf_counter() - start > 300:
                raise RuntimeError("drain did not finish in 300 s")
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        client.close()
        agent.stop()


def drain_processes(
    hub: ManagedService, broker: BrokerProcess, workdir: Path, stores: int, events_per_store: int
) -> float:
    """``stores`` agent processes (one per store, as in the field) with full outboxes, started
    while the hub is paused: seconds from the first event applied at the hub to the last."""
    settings = [_store_settings(workdir, broker, n) for n in range(stores)]
    for s in settings:
        fill_backlog(s, events_per_store)
    wanted = {s.store_id for s in settings}
    agents = [
        ManagedService(
            s.store_id,
            AGENT_ARGV,
            service_env(
                "STORELINK_AGENT_",
                {
                    "store_id": s.store_id,
                    "data_dir": str(s.data_dir),
                    "broker_url": broker.url,
                    "mqtt_protocol": broker.protocol,
                    "http_port": str(free_port()),
                    "status_interval_s": "60",
                    "digest_interval_s": "3600",
                    # No go-back-N resends of what waits at the broker while the hub is paused.
                    "ack_timeout_s": "60",
                },
            ),
            0,
            workdir / f"{s.store_id}.log",
        )
        for s in settings
    ]
    for agent in agents:
        agent.port = int(agent.env["STORELINK_AGENT_HTTP_PORT"])
    client = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {HUB_TOKEN}"})
    marks: dict[str, float] = {}
    failure: list[str] = []

    def watch() -> None:
        # Starts as the hub resumes: every store has its backlog waiting by then.
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            applied = _applied(client, wanted)
            now = time.perf_counter()
            if "first" not in marks and any(applied):
                marks["first"] = now
            if all(a >= events_per_store for a in applied):
                marks["last"] = now
                return
            time.sleep(0.02)
        failure.append(f"drain did not finish in 300 s: applied {sorted(_applied(client, wanted))}")

    watcher = threading.Thread(target=watch, name="drain-watch")
    assert hub.proc is not None
    try:
        hub.proc.send_signal(signal.SIGSTOP)  # well inside the broker's 45 s keepalive grace
        try:
            with ThreadPoolExecutor(max_workers=len(agents)) as pool:
                list(pool.map(lambda agent: agent.start(timeout=120), agents))
        finally:
            hub.proc.send_signal(signal.SIGCONT)
        watcher.start()
        watcher.join()
        if failure:
            raise RuntimeError(failure[0])
        return marks["last"] - marks["first"]
    finally:
        client.close()
        for agent in agents:
            agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--ceiling-messages", type=int, default=30_000)
    parser.add_argument("--fanout-interval", default="2.0", help="hub fan-out interval, s")
    parser.add_argument("--skip-one", action="store_true", help="only the many-stores run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="storelink-bench-sync-"))
    broker = start_bench_broker(workdir / "broker")
    hub = None
    try:
        log(f"broker: {broker.kind} (MQTT {broker.protocol}) on {broker.url}")
        ceiling = measure_ceiling(broker, args.ceiling_messages)
        log(f"ceiling (paho QoS 1 pub->sub, one message per event): {ceiling:,.0f} msg/s")
        port = free_port()
        hub = ManagedService(
            "hub",
            HUB_ARGV,
            service_env(
                "STORELINK_HUB_",
                {
                    "database_url": f"sqlite:///{workdir / 'hub.db'}",
                    "broker_url": broker.url,
                    "mqtt_protocol": broker.protocol,
                    "http_port": str(port),
                    "api_token": HUB_TOKEN,
                    "fanout_interval_s": args.fanout_interval,
                },
            ),
            port,
            workdir / "hub.log",
        ).start()
        one = (
            float("nan")
            if args.skip_one
            else drain_in_process(hub, broker, workdir / "one", args.events)
        )
        log(f"1 store: {args.events:,} events drained in {one:.2f} s = {args.events / one:,.0f}/s")
        per_store = args.events // args.stores
        many = drain_processes(hub, broker, workdir / "many", args.stores, per_store)
        total = per_store * args.stores
        log(f"{args.stores} stores: {total:,} events in {many:.2f} s = {total / many:,.0f}/s")
        emit(
            "sync_throughput",
            args.events / one,
            "events/s",
            ceiling=ceiling,
            ceiling_what="paho QoS1 publish->subscribe, one message per event, same broker",
            broker=f"{broker.kind} MQTT {broker.protocol}",
            backlog_events=args.events,
            backlog_drain_s=one,
            stores=args.stores,
            stores_events_per_s=total / many,
            stores_ratio=round(total / many / ceiling, 3),
        )
    finally:
        if hub is not None:
            hub.stop()
        broker.stop()


if __name__ == "__main__":
    main()
