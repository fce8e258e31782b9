"""Real processes for end-to-end tests: a hub and store agents, each its own OS process.

Each process is started exactly as an operator would (``python -m cloud_hub.main``,
``python -m edge_agent.main run``) with settings in its environment, so SIGKILL really kills it
mid-transaction and a restart really reopens its database file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from storelink_demo.brokers import BrokerProcess, free_port
from storelink_demo.processes import AGENT_ARGV, HUB_ARGV, ManagedService, service_env

HUB_TOKEN = "hq-test-token-0123456789"
TILL_TOKEN = "till-test-token-0123456789"
TILL2_TOKEN = "till2-test-token-0123456789"
KIOSK_TOKEN = "kiosk-test-token-0123456789"
STAFF_TOKEN = "staff-test-token-0123456789"
MANAGER_TOKEN = "manager-test-token-0123456789"
LOCKER_TOKEN = "locker-test-token-0123456789"
WEB_TOKEN = "web-channel-test-token-0123"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (httpx.HTTPError, KeyError, IndexError):
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Service(ManagedService):
    """A hub or agent process, plus the HTTP calls tests make to it."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path, token: str
    ) -> None:
        super().__init__(name, argv, env, port, log_path)
        self.token = token

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10.0,
        )

    def get(self, path: str, token: str | None = None) -> Any:
        with self.client(token) as c:
            response = c.get(path)
            response.raise_for_status()
            return response.json()


class Chain:
    """A broker, a hub and any number of stores, all real, on this machine."""

    def __init__(self, workdir: Path, broker: BrokerProcess, hub_database_url: str) -> None:
        self.workdir = workdir
        self.broker = broker
        self.hub_database_url = hub_database_url
        self.services: list[Service] = []
        self.hub: Service | None = None
        self.stores: dict[str, Service] = {}

    def start_hub(self, **settings: str) -> Service:
        user, password = self.broker.hub_credentials()
        env = _env(
            "STORELINK_HUB_",
            database_url=self.hub_database_url,
            broker_url=self.broker.url,
            broker_username=user,
            broker_password=password,
            mqtt_protocol=self.broker.protocol,
            http_port=str(free_port()),
            api_token=HUB_TOKEN,
            fanout_interval_s="0.2",
            ack_timeout_s="3",
            channel_tokens=f"web:{WEB_TOKEN}",
            jobs_interval_s="0.2",
            notifications_file=str(self.notifications_file),
            **settings,
        )
        hub = Service(
            "hub",
            HUB_ARGV,
            env,
            int(env["STORELINK_HUB_HTTP_PORT"]),
            self.workdir / "hub.log",
            HUB_TOKEN,
        )
        self.hub = hub
        self.services.append(hub)
        return hub.start()

    def start_store(self, store_id: str, broker_url: str | None = None, **settings: str) -> Service:
        """Start a store agent; ``broker_url`` reaches the broker another way (a proxy)."""
        user, password = self.broker.credentials(store_id)
        tokens = ",".join(
            f"{device}:{role}:{token}"
            for device, role, token in (
                ("till-1", "pos", TILL_TOKEN),
                ("till-2", "pos", TILL2_TOKEN),
                ("kiosk-1", "kiosk", KIOSK_TOKEN),
                ("staff-1", "staff", STAFF_TOKEN),
                ("manager-1", "manager", MANAGER_TOKEN),
                ("locker-1", "locker", LOCKER_TOKEN),
            )
        )
        env = _env(
            "STORELINK_AGENT_",
            store_id=store_id,
            data_dir=str(self.workdir / "stores"),
            broker_url=broker_url or self.broker.url,
            broker_username=user,
            broker_password=password,
            mqtt_protocol=self.broker.protocol,
            http_port=str(free_port()),
            bootstrap_tokens=tokens,
            status_interval_s="0.5",
            ack_timeout_s="3",
            **settings,
        )
        store = Service(
            store_id,
            AGENT_ARGV,
            env,
            int(env["STORELINK_AGENT_HTTP_PORT"]),
            self.workdir / f"{store_id}.log",
            STAFF_TOKEN,
        )
        self.stores[store_id] = store
        self.services.append(store)
        return store.start()

    @property
    def notifications_file(self) -> Path:
        """The hub's customer notifications (its log notifier): the customer's inbox."""
        return self.workdir / "notifications.jsonl"

    def notifications(self, order_id: str | None = None) -> list[dict[str, Any]]:
        if not self.notifications_file.exists():
            return []
        sent = [json.loads(line) for line in self.notifications_file.read_text().splitlines()]
        return [n for n in sent if order_id is None or n["order_id"] == order_id]

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.log_tail(3000)}" for s in self.services)

    # -- what tests ask of the chain ------------------------------------------------------------

    def push_catalog(self, products: list[dict[str, Any]]) -> None:
        assert self.hub is not None
        with self.hub.client() as c:
            c.put("/v1/catalog", json=products).raise_for_status()

    def hub_on_hand(self, store_id: str) -> dict[str, int]:
        assert self.hub is not None
        rows = self.hub.get(f"/v1/stores/{store_id}/stock")["items"]
        return {r["sku"]: r["on_hand"] for r in rows if r["on_hand"] != 0}

    def store_on_hand(self, store_id: str, skus: list[str]) -> dict[str, int]:
        store = self.stores[store_id]
        figures = {sku: store.get(f"/v1/stock/{sku}")["here"]["on_hand"] for sku in skus}
        return {sku: q for sku, q in figures.items() if q != 0}

    def store_backlog(self, store_id: str) -> int:
        return int(self.stores[store_id].get("/v1/status")["uplink"]["backlog"])


def _env(prefix: str, **settings: str | None) -> dict[str, str]:
    return service_env(prefix, settings)
