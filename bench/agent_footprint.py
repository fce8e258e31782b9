"""agent_footprint: resident memory of an idle store agent, connected, with a catalog loaded.

    python bench/agent_footprint.py [--settle 5]

Starts a real ``storelink-agent`` against a broker (Mosquitto if installed, else the embedded
one) with 5,000 products and its devices loaded: a receiving scanner, an RFID reader with 40
tags in the field and a locker board (simulators on ptys in this process), and a camera on a
video file (so OpenCV and its decoders are resident). Lets it settle ``--settle`` seconds and
reads VmRSS from /proc. No ceiling applies; the goal is under 150 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from _common import emit, log, start_bench_broker

from devices.locker.simulator import LockerBoardSimulator
from devices.rfid.simulator import ChafonSimulator, demo_tags
from devices.scanner.simulator import ScannerSimulator
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
    scanner = ScannerSimulator(link=workdir / "ttySCAN")
    reader = ChafonSimulator(demo_tags(40)).start()
    board = LockerBoardSimulator()
    video = workdir / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (640, 480))
    for _ in range(20):
        writer.write(np.full((480, 640, 3), 200, dtype=np.uint8))
    writer.release()
    devices = workdir / "devices.json"
    devices.write_text(
        json.dumps(
            [
                {"kind": "scanner", "device_id": "rcv", "url": scanner.path, "role": "receiving"},
                {
                    "kind": "rfid_serial",
                    "device_id": "floor",
                    "url": reader.path,
                    "antennas": {"1": "sales_floor"},
                },
                {"kind": "locker_board", "device_id": "bank", "url": board.path},
                {"kind": "camera", "device_id": "cam", "source": str(video), "role": "kiosk"},
            ]
        )
    )
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
                "devices_file": str(devices),
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
        log(f"agent RSS with 4 devices loaded: {mb:.1f} MB (broker {broker.kind})")
    finally:
        agent.stop()
        broker.stop()
        scanner.close()
        reader.stop()
        board.close()
    emit(
        "agent_footprint",
        mb,
        "MB",
        goal_mb=150,
        broker=broker.kind,
        devices="scanner, rfid_serial (40 tags), locker_board, camera (video file)",
    )


if __name__ == "__main__":
    main()
