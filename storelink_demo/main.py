"""``storelink-demo``: the whole chain on one machine, for a first look and for demos.

    storelink-demo [--stores 2] [--rate 1.0] [--data-dir var/demo] [--broker-url URL] [--fresh]

Starts a broker (Mosquitto with the per-store ACL when installed, the embedded amqtt broker
otherwise, or the one at ``--broker-url``), the hub, N store agents with simulated devices (a
receiving scanner, an RFID reader, a locker board, each on a pty), seeds a catalog through the
hub and opening stock through each store's staff API, then runs a simulated till per store.
Prints every URL and token; Ctrl-C stops everything, tills first, broker last.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx

from devices.locker.simulator import LockerBoardSimulator
from devices.pos.simulator import SimulatedTill
from devices.rfid.epc import encode_sgtin96
from devices.rfid.simulator import ChafonSimulator
from devices.scanner.simulator import ScannerSimulator
from storelink_demo.brokers import BrokerProcess, free_port, start_best_broker
from storelink_demo.processes import AGENT_ARGV, HUB_ARGV, ManagedService, service_env

log = logging.getLogger("storelink_demo")

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
    {
        "sku": "CAP-3",
        "gtin": "5012345678900",
        "name": "Canvas cap",
        "price_cents": 900,
        "category": "apparel",
    },
    {
        "sku": "BOT-4",
        "gtin": "9501101530003",
        "name": "Steel bottle",
        "price_cents": 1200,
        "category": "home",
    },
    # RFID-tagged: the GS1 TDS example GTIN, so the demo's SGTIN-96 tags decode to it.
    {
        "sku": "TAG-5",
        "gtin": "80614141123458",
        "name": "Tagged jacket",
        "price_cents": 8900,
        "category": "apparel",
    },
]


#: Where the demo stores are (Berlin neighbourhoods), for the kiosk's "nearest first".
PLACES = [
    ("Mitte", 52.5200, 13.4050),
    ("Prenzlauer Berg", 52.5390, 13.4240),
    ("Kreuzberg", 52.4990, 13.4030),
    ("Charlottenburg", 52.5160, 13.3040),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storelink-demo", description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=2, help="how many stores (default 2)")
    parser.add_argument("--rate", type=float, default=1.0, help="sales per second per store")
    parser.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    parser.add_argument("--broker-url", help="use this broker instead of starting one")
    parser.add_argument("--fresh", action="store_true", help="delete earlier demo data first")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not 1 <= args.stores <= 50:
        parser.error("--stores must be between 1 and 50")
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    demo = Demo(args.data_dir, [f"store-{n:03d}" for n in range(1, args.stores + 1)])
    try:
        demo.start(args.broker_url)
        demo.print_urls()
        demo.run_tills(args.rate, stop)
    except Exception as exc:  # noqa: BLE001  (tell the newcomer what failed, then clean up)
        log.error("demo failed: %s", exc)
        return 1
    finally:
        demo.stop()
    return 0


class Demo:
    """The running chain: broker, hub, stores and their tills."""

    def __init__(self, data_dir: Path, store_ids: list[str]) -> None:
        self.data_dir = data_dir
        self.store_ids = store_ids
        self.broker: BrokerProcess | None = None
        self.broker_url = ""
        self.protocol = "auto"
        self.hub: ManagedService | None = None
        self.stores: dict[str, ManagedService] = {}
        self.hub_token = secrets.token_urlsafe(24)
        self.web_token = secrets.token_urlsafe(24)
        #: The HQ dashboard's demo sign-in (an operator).
        self.hq_user = ("hq", secrets.token_urlsafe(12))
        self.tokens = {
            role: secrets.token_urlsafe(24)
            for role in ("pos", "kiosk", "staff", "manager", "locker")
        }
        self._tills: list[threading.Thread] = []
        self._devices: dict[str, StoreDevices] = {}

    def start(self, broker_url: str | None) -> None:
        if broker_url:
            self.broker_url = broker_url
        else:
            self.broker = start_best_broker(self.data_dir / "broker", self.store_ids)
            self.broker_url, self.protocol = self.broker.url, self.broker.protocol
            log.info("broker: %s (%s, MQTT %s)", self.broker.url, self.broker.kind, self.protocol)
        self.hub = self._start_hub()
        for store_id in self.store_ids:
            self._devices[store_id] = StoreDevices(self.data_dir / "devices" / store_id)
            self.stores[store_id] = self._start_store(store_id)
        self._seed()

    @property
    def notifications_file(self) -> Path:
        """Where the hub's log notifier writes customer messages: the demo customers' inbox."""
        return self.data_dir / "notifications.jsonl"

    def _credentials(self, store_id: str | None) -> tuple[str | None, str | None]:
        if self.broker is None:
            return None, None
        return (
            self.broker.hub_credentials() if store_id is None else self.broker.credentials(store_id)
        )

    def _start_hub(self) -> ManagedService:
        user, password = self._credentials(None)
        port = free_port()
        env = service_env(
            "STORELINK_HUB_",
            {
                "database_url": f"sqlite:///{(self.data_dir / 'hub.db').resolve()}",
                "broker_url": self.broker_url,
                "broker_username": user,
                "broker_password": password,
                "mqtt_protocol": self.protocol,
                "http_port": str(port),
                "api_token": self.hub_token,
                "channel_tokens": f"web:{self.web_token}",
                "bootstrap_users": f"{self.hq_user[0]}:operator:{self.hq_user[1]}",
                "notifications_file": str(self.notifications_file.resolve()),
            },
        )
        log.info("starting the hub")
        return ManagedService(
            "hub", HUB_ARGV, env, port, self.data_dir / "logs" / "hub.log"
        ).start()

    def _start_store(self, store_id: str) -> ManagedService:
        user, password = self._credentials(store_id)
        port = free_port()
        tokens = ",".join(f"{role}-1:{role}:{token}" for role, token in self.tokens.items())
        env = service_env(
            "STORELINK_AGENT_",
            {
                "store_id": store_id,
                "data_dir": str((self.data_dir / "stores").resolve()),
                "broker_url": self.broker_url,
                "broker_username": user,
                "broker_password": password,
                "mqtt_protocol": self.protocol,
                "http_port": str(port),
                "bootstrap_tokens": tokens,
                "devices_file": str(self._devices[store_id].devices_file.resolve()),
            },
        )
        log.info("starting %s", store_id)
        return ManagedService(
            store_id, AGENT_ARGV, env, port, self.data_dir / "logs" / f"{store_id}.log"
        ).start()

    def _seed(self) -> None:
        """Catalog through the hub (it reaches stores as commands), opening stock per store."""
        assert self.hub is not None
        headers = {"Authorization": f"Bearer {self.hub_token}"}
        httpx.put(
            f"{self.hub.url}/v1/catalog", json=CATALOG, headers=headers, timeout=10
        ).raise_for_status()
        for n, store_id in enumerate(self.stores):
            # Neighbourhoods of one city, a few km apart: kiosks list the nearest first.
            name, lat, lon = PLACES[n % len(PLACES)]
            httpx.put(
                f"{self.hub.url}/v1/stores/{store_id}/profile",
                json={"name": name, "lat": lat + 0.01 * (n // len(PLACES)), "lon": lon},
                headers=headers,
                timeout=10,
            ).raise_for_status()
        staff = {"Authorization": f"Bearer {self.tokens['staff']}"}
        run = secrets.token_hex(3)
        for store_id, store in self.stores.items():
            lines = [{"sku": p["sku"], "quantity": 200} for p in CATALOG]
            httpx.post(
                f"{store.url}/v1/receipts",
                headers=staff,
                timeout=10,
                json={"receipt_id": f"opening-{store_id}-{run}", "lines": lines},
            ).raise_for_status()
        deadline = time.monotonic() + 30
        kiosk = {"Authorization": f"Bearer {self.tokens['kiosk']}"}
        for store in self.stores.values():
            while (
                httpx.get(f"{store.url}/v1/stock/MUG-1", headers=kiosk, timeout=5)
                .json()
                .get("name")
                is None
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the catalog did not reach {store.name} in 30 s")
                time.sleep(0.2)

    def print_urls(self) -> None:
        assert self.hub is not None
        lines = [
            "",
            "StoreLink demo is running. Ctrl-C stops everything.",
            f"  broker       {self.broker_url}"
            + (f"  ({self.broker.kind}, MQTT {self.protocol})" if self.broker else ""),
            f"  hub API docs {self.hub.url}/docs      token: {self.hub_token}",
            f"  fleet        curl -H 'Authorization: Bearer {self.hub_token}' "
            f"{self.hub.url}/v1/stores",
            f"  HQ dashboard {self.hub.url}/dashboard      sign in: {self.hq_user[0]} / "
            f"{self.hq_user[1]}",
        ]
        lines.append(f"  web channel  token: {self.web_token}  (POST {self.hub.url}/v1/orders)")
        lines.append(f"  customer inbox {self.notifications_file}  (pickup codes arrive here)")
        for store_id, store in self.stores.items():
            lines.append(f"  {store_id:<12} {store.url}/docs      devices: {store.url}/v1/devices")
            lines.append(
                f"  {'':<12} pages: {store.url}/kiosk  {store.url}/locker  {store.url}/staff"
            )
        lines.append(
            "  simulated devices per store: a receiving scanner (deliveries every few "
            "seconds), an RFID reader (tagged jackets on the sales floor), a locker bank of "
            "6 doors (S, S, M, M, L, L) and a pack-station scanner"
        )
        lines.append("  store device tokens (same for every demo store):")
        lines.extend(f"    {role:<8} {token}" for role, token in self.tokens.items())
        lines.append(f"  logs         {self.data_dir / 'logs'}")
        print("\n".join(lines), flush=True)

    def run_tills(self, rate: float, stop: threading.Event) -> None:
        skus = [str(p["sku"]) for p in CATALOG]
        tills = []
        for store_id, store in self.stores.items():
            till = SimulatedTill(store.url, self.tokens["pos"], skus, f"{store_id}-till-1")
            tills.append(till)
            thread = threading.Thread(target=till.run, args=(rate, stop), name=f"till-{store_id}")
            thread.start()
            self._tills.append(thread)
        for devices in self._devices.values():
            thread = threading.Thread(
                target=devices.deliver,
                args=(stop, [str(p["gtin"]) for p in CATALOG[:4]]),
                name="deliveries",
            )
            thread.start()
            self._tills.append(thread)
        while not stop.wait(0.5):
            for service in [self.hub, *self.stores.values()]:
                if service is not None and not service.running:
                    log.error("%s stopped unexpectedly:\n%s", service.name, service.log_tail(2000))
                    stop.set()
        for thread in self._tills:
            thread.join(timeout=10)
        for till in tills:
            till.close()
            log.info("%s: %d sales rung up", till.terminal_id, till.stats.sales)

    def stop(self) -> None:
        for store in self.stores.values():
            store.stop()
        if self.hub is not None:
            self.hub.stop()
        if self.broker is not None:
            self.broker.stop()
        for devices in self._devices.values():
            devices.close()
        log.info("demo stopped")


class StoreDevices:
    """One store's simulated hardware, on ptys owned by this process."""

    def __init__(self, workdir: Path) -> None:
        workdir = workdir.resolve()  # the agents open these paths from their own processes
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("tty*"):
            stale.unlink()
        self.scanner = ScannerSimulator(link=workdir / "ttyRECEIVING")
        tags = [encode_sgtin96("0614141", "812345", serial) for serial in range(1, 13)]
        self.rfid = ChafonSimulator(tags).start()
        self.locker = LockerBoardSimulator()
        self.pick_station = ScannerSimulator(link=workdir / "ttyPICK")
        self.devices_file = workdir / "devices.json"
        self.devices_file.write_text(
            json.dumps(
                [
                    {
                        "kind": "scanner",
                        "device_id": "receiving-1",
                        "url": self.scanner.path,
                        "role": "receiving",
                    },
                    {
                        "kind": "rfid_serial",
                        "device_id": "floor-reader",
                        "url": self.rfid.path,
                        "antennas": {"1": "sales_floor"},
                    },
                    {
                        "kind": "locker_board",
                        "device_id": "locker-bank-a",
                        "url": self.locker.path,
                        "poll_interval_s": 0.5,
                        "compartments": {
                            "1": "S",
                            "2": "S",
                            "3": "M",
                            "4": "M",
                            "5": "L",
                            "6": "L",
                        },
                    },
                    {
                        "kind": "scanner",
                        "device_id": "pick-1",
                        "url": self.pick_station.path,
                        "role": "picking",
                    },
                ],
                indent=2,
            )
        )

    def deliver(self, stop: threading.Event, gtins: list[str]) -> None:
        """A delivery being scanned in: one unit every few seconds."""
        rng = random.Random()
        while not stop.wait(rng.uniform(2.0, 6.0)):
            self.scanner.scan(rng.choice(gtins))

    def close(self) -> None:
        self.scanner.close()
        self.pick_station.close()
        self.rfid.stop()
        self.locker.close()


if __name__ == "__main__":
    sys.exit(main())
