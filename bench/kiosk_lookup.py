"""kiosk_lookup: stock lookups per second over HTTP, against a bare endpoint of the same server.

    python bench/kiosk_lookup.py [--seconds 5] [--clients 16]

A real ``storelink-agent`` process (uvicorn, one worker) with 1,000 products and 20 other
stores' figures is loaded by 16 concurrent keep-alive clients for ``--seconds`` on
``GET /v1/stock/{sku}`` (token check, product, on-hand, safety stock, 20 peer rows) and then on
``GET /healthz`` of the same server (the bare JSON ceiling). The load generator is ``wrk``
when installed (``apt-get install wrk``), else a plain asyncio HTTP/1.1 client in this process;
either shares the machine's 2 cores with the server in both measurements alike.
Goal: p99 < 5 ms and >= half the bare endpoint's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import emit, log, percentile

from edge_agent import catalog, commands
from edge_agent.db import StoreDB
from edge_agent.movements import ReceiptRequest, receive_stock
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.commands import StockView
from storelink_contract.common import Product
from storelink_demo.brokers import free_port
from storelink_demo.processes import AGENT_ARGV, ManagedService, service_env

TOKEN = "bench-kiosk-token-0123456789"
PRODUCTS = 1000
PEERS = 20


def prepare(data_dir: Path, store_id: str) -> None:
    db = StoreDB(data_dir / f"{store_id}.db")
    now = datetime.now(UTC)
    with db.write() as conn:
        catalog.upsert(
            conn,
            [
                Product(sku=f"SKU-{n}", name=f"Product {n}", price_cents=100 + n)
                for n in range(PRODUCTS)
            ],
            now,
        )
        receive_stock(
            conn,
            ReceiptRequest(
                receipt_id="opening",
                lines=[{"sku": f"SKU-{n}", "quantity": 5 + n % 7} for n in range(PRODUCTS)],
            ),
            now,
        )
        for peer in range(PEERS):
            commands.apply_command(
                conn,
                StockView(
                    at=now,
                    entries=tuple(
                        {
                            "store_id": f"peer-{peer:02d}",
                            "sku": f"SKU-{n}",
                            "on_hand": n % 9,
                            "available": n % 9,
                            "as_of": now - timedelta(minutes=peer),
                        }
                        for n in range(PRODUCTS)
                    ),
                ),
                now,
                FulfilmentPolicy(store_id=store_id),
            )
    db.close()


async def load(
    port: int, paths: list[str], seconds: float, clients: int
) -> tuple[int, list[float]]:
    """Requests completed and their latencies (s), from ``clients`` keep-alive connections."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    rng = random.Random(7)

    async def one_client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                path = rng.choice(paths)
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"unexpected answer: {head[:80]!r}")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return len(latencies), latencies


def run(port: int, paths: list[str], seconds: float, clients: int) -> tuple[float, float, float]:
    """Requests/s, p50 ms and p99 ms; with wrk when installed (a C client leaves the server
    more of the 2 cores), else with the asyncio client above."""
    if shutil.which("wrk"):
        return run_wrk(port, paths, seconds, clients)
    asyncio.run(load(port, paths, 1.0, clients))  # warm-up
    count, latencies = asyncio.run(load(port, paths, seconds, clients))
    return count / seconds, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000


_WRK_SCRIPT = """
paths = {%s}
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer %s"})
end
"""


def run_wrk(
    port: int, paths: list[str], seconds: float, clients: int
) -> tuple[float, float, float]:
    script = Path(tempfile.mkdtemp(prefix="storelink-wrk-")) / "paths.lua"
    script.write_text(_WRK_SCRIPT % (",".join(f'"{p}"' for p in paths), TOKEN))
    base = ["wrk", "-t1", f"-c{clients}", "-s", str(script), "--latency"]
    subprocess.run([*base, "-d1s", f"http://127.0.0.1:{port}"], check=True, capture_output=True)
    out = subprocess.run(
        [*base, f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw error answers:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]

    def latency_ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([0-9.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, latency_ms("50%"), latency_ms("99%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="storelink-bench-kiosk-"))
    prepare(workdir / "stores", "bench-store")
    port = free_port()
    agent = ManagedService(
        "agent",
        AGENT_ARGV,
        service_env(
            "STORELINK_AGENT_",
            {
                "store_id": "bench-store",
                "data_dir": str(workdir / "stores"),
                "http_port": str(port),
                "broker_url": "mqtt://127.0.0.1:9",  # the HTTP path alone: no broker traffic
                "bootstrap_tokens": f"kiosk-1:kiosk:{TOKEN}",
            },
        ),
        port,
        workdir / "agent.log",
    ).start()
    try:
        lookups = [f"/v1/stock/SKU-{n}" for n in range(PRODUCTS)]
        rps, p50, p99 = run(port, lookups, args.seconds, args.clients)
        log(f"stock lookup: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        bare_rps, bare_p50, bare_p99 = run(port, ["/healthz"], args.seconds, args.clients)
        log(f"bare /healthz: {bare_rps:,.0f} req/s, p50 {bare_p50:.2f} ms, p99 {bare_p99:.2f} ms")
    finally:
        agent.stop()
    emit(
        "kiosk_lookup",
        rps,
        "requests/s",
        ceiling=bare_rps,
        ceiling_what="GET /healthz (bare JSON) on the same server, same client",
        p50_ms=p50,
        p99_ms=p99,
        ceiling_p50_ms=bare_p50,
        ceiling_p99_ms=bare_p99,
        clients=args.clients,
        peer_stores=PEERS,
    )


if __name__ == "__main__":
    main()
