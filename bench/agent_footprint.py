"""agent_footprint: resident memory of an idle store agent, connected, with a catalog loaded.

    python bench/agent_footprint.py [--settle 5]

Starts a real ``storelink-agent`` against a broker (Mosquitto if installed, else the embedded
one) with 5,000 products, lets it idle ``--settle`` seconds, and reads VmRSS from /proc. No
ceiling applies; the goal is under 150 MB. (Device drivers join this measurement with the
device manager.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import emit, log, start_bench_broker

from edge_agent import catalog
from edge_agent.db import StoreDB
from storelink_contract.common import Product
from storelink_demo.brokers import free_port
from storelink_demo.processes import AGENT_ARGV, ManagedService, service_env


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="storelink-bench-footprint-"))
    db = StoreDB(workdir / "stores" / "footprint.db")
    with db.write() as conn:
        catalog.upsert(
            conn,
            [Product(sku=f"SKU-{n}", name=f"Product {n}", price_cents=100) for n in range(5000)],
            datetime.now(UTC),
        )
    db.close()
    broker = start_bench_broker(workdir / "broker")
    port = free_port()
    agent = ManagedService(
        "agent",
        AGENT_ARGV,
        service_env(
            "STORELINK_AGENT_",
            {
                "store_id": "footprint",
                "data_dir": str(workdir / "stores"),
                "http_port": str(port),
                "broker_url": broker.url,
                "mqtt_protocol": broker.protocol,
            },
        ),
        port,
        workdir / "agent.log",
    )
    try:
        agent.start()
        time.sleep(args.settle)
        assert agent.proc is not None
        mb = rss_mb(agent.proc.pid)
        log(f"idle agent RSS: {mb:.1f} MB (broker {broker.kind})")
    finally:
        agent.stop()
        broker.stop()
    emit("agent_footprint", mb, "MB", goal_mb=150, broker=broker.kind)


if __name__ == "__main__":
    main()
