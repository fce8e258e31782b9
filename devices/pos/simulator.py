"""A simulated till: rings up sales against a store agent's API, as a real POS would.

    storelink-pos-sim --url http://127.0.0.1:8801 --token TOKEN --skus MUG-1,TEE-2 --rate 2

Every sale carries a fresh ``sale_id`` (terminal id + counter + random suffix, so two tills
never collide even offline), and a request that times out is retried with the SAME id, the way
a till must retry so that a lost response never becomes a double sale.
"""

from __future__ import annotations

import argparse
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx

from devices.simkit import stop_requested

log = logging.getLogger(__name__)


@dataclass
class TillStats:
    sales: int = 0
    retries: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


class SimulatedTill:
    """Posts random baskets at ``rate`` sales per second until stopped."""

    def __init__(
        self, url: str, token: str, skus: list[str], terminal_id: str, *, seed: int | None = None
    ) -> None:
        if not skus:
            raise ValueError("give at least one sku to sell")
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5.0
        )
        self._skus = skus
        self.terminal_id = terminal_id
        self._random = random.Random(seed)
        self._counter = 0
        self._run_id = secrets.token_hex(3)
        self.stats = TillStats()

    def ring_up(self) -> dict[str, object] | None:
        """One sale, retried with the same id on transport errors; the agent's answer."""
        self._counter += 1
        sale = {
            "sale_id": f"{self.terminal_id}-{self._run_id}-{self._counter}",
            "lines": [
                {"sku": sku, "quantity": self._random.randint(1, 2)}
                for sku in self._random.sample(self._skus, k=min(len(self._skus), 2))
            ],
        }
        for attempt in range(5):
            try:
                response = self._client.post("/v1/sales", json=sale)
            except httpx.TransportError as exc:
                self.stats.retries += 1
                log.debug("sale %s attempt %d failed: %s", sale["sale_id"], attempt + 1, exc)
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code in (200, 201):
                self.stats.sales += 1
                result: dict[str, object] = response.json()
                return result
            self.stats.refused += 1
            self.stats.errors.append(f"{response.status_code}: {response.text[:200]}")
            return None
        return None

    def run(self, rate: float, stop: threading.Event, limit: int | None = None) -> None:
        interval = 1.0 / rate if rate > 0 else 0.0
        while not stop.is_set() and (limit is None or self._counter < limit):
            self.ring_up()
            if interval:
                stop.wait(self._random.uniform(0.5 * interval, 1.5 * interval))

    def close(self) -> None:
        self._client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storelink-pos-sim", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", required=True, help="the store agent's API, e.g. http://127.0.0.1:8801"
    )
    parser.add_argument("--token", required=True, help="a device token with the pos role")
    parser.add_argument("--skus", required=True, help="comma-separated skus to sell")
    parser.add_argument("--terminal", default="till-sim")
    parser.add_argument("--rate", type=float, default=1.0, help="sales per second")
    parser.add_argument("--count", type=int, default=None, help="stop after this many sales")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    till = SimulatedTill(args.url, args.token, args.skus.split(","), args.terminal)
    stop = stop_requested()
    try:
        till.run(args.rate, stop, args.count)
    finally:
        till.close()
    log.info(
        "till %s: %d sales, %d retries, %d refused",
        args.terminal,
        till.stats.sales,
        till.stats.retries,
        till.stats.refused,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
