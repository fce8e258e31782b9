"""The running store: database, uplink and scheduled jobs, started and stopped together.

The HTTP app and the command line both build a ``StoreAgent``; tests build one directly.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import ExitStack
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from edge_agent import auth, commands, fulfilment_jobs, lockers, outbox
from edge_agent.db import StoreDB
from edge_agent.device_actions import DeviceActions
from edge_agent.device_config import DeviceConfig, LockerBoardConfig, load_devices
from edge_agent.device_manager import DeviceManager
from edge_agent.doors import DoorOpener
from edge_agent.kiosk import KioskOrders
from edge_agent.locker_source import BoardsOnBus
from edge_agent.pickup import LockerDesk
from edge_agent.policy import FulfilmentPolicy
from edge_agent.returns import ReturnDesk
from edge_agent.settings import AgentSettings
from edge_agent.uplink import Uplink
from storelink_contract.common import utcnow

log = logging.getLogger(__name__)


class StoreAgent:
    """One store's agent."""

    def __init__(self, settings: AgentSettings) -> None:
        settings.check_production()
        configs = load_devices(settings.devices_file)  # a bad file fails before the DB opens
        self.settings = settings
        self.db = StoreDB(settings.database_path)
        with self.db.write() as conn:
            for device_id, role, token in auth.parse_bootstrap(settings.bootstrap_tokens):
                auth.register_token(conn, device_id, role, token, utcnow())
            bdseq = _next_bdseq(conn)
        self.policy = FulfilmentPolicy.from_settings(settings)
        with self.db.write() as conn:
            lockers.sync_layout(conn, _layouts(configs), utcnow())
        self.device_actions = DeviceActions(self.db, self.policy, configs)
        self.devices = DeviceManager(configs, self.device_actions)
        self.locker_desk = LockerDesk(
            self.db, self.policy, DoorOpener(BoardsOnBus(self.devices.slots)), utcnow
        )
        self.device_actions.desk = self.locker_desk
        self.uplink = Uplink(settings, self.db, bdseq, self.devices.health)
        self.returns = ReturnDesk(
            self.db, settings.store_id, self.uplink.call, settings.hub_rpc_timeout_s
        )
        self.kiosk_orders = KioskOrders(
            self.db, settings.store_id, self.uplink.call, settings.hub_rpc_timeout_s
        )
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.uplink.publish_status,
            "interval",
            seconds=settings.status_interval_s,
            id="status",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.add_job(
            self.record_digest,
            "interval",
            seconds=settings.digest_interval_s,
            id="digest",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.add_job(
            self.device_actions.sweep,
            "interval",
            seconds=5,
            id="rfid-sweep",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.add_job(
            self.run_fulfilment_jobs,
            "interval",
            seconds=settings.fulfilment_job_interval_s,
            id="fulfilment",
            coalesce=True,
            max_instances=1,
        )
        self._last_digest_seq = -1
        self._held = ExitStack()

    def start(self) -> None:
        # Held until stop(): a second agent on this database, or a rebase, refuses to run.
        self._held.enter_context(self.db.exclusive())
        self.uplink.start()
        self.devices.start()
        self._scheduler.start()
        log.info("store %s agent started (database %s)", self.settings.store_id, self.db.path)

    def stop(self) -> None:
        self._scheduler.shutdown(wait=True)
        self.devices.stop()
        self.uplink.stop()
        self._held.close()
        self.db.close()
        log.info("store %s agent stopped", self.settings.store_id)

    def record_digest(self) -> None:
        """Put a stock digest in the stream, unless nothing happened since the last one."""
        with self.db.write() as conn:
            if outbox.backlog(conn).last_seq == self._last_digest_seq:
                return
            self._last_digest_seq = commands.record_digest(conn, utcnow())

    def run_fulfilment_jobs(self) -> fulfilment_jobs.JobReport:
        """Reminders, expiries and lapsed cart holds (a scheduled job; also run on demand)."""
        return fulfilment_jobs.run(self.db, self.policy, utcnow())


def _layouts(configs: list[DeviceConfig]) -> list[lockers.BoardLayout]:
    return [
        lockers.BoardLayout(c.device_id, dict(c.compartments))
        for c in configs
        if isinstance(c, LockerBoardConfig)
    ]


def _next_bdseq(conn: sqlite3.Connection) -> int:
    """Birth/death sequence: one more per agent start, persisted so the hub can order them."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'bdseq'").fetchone()
    bdseq = int(row[0]) + 1 if row else 1
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('bdseq', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(bdseq),),
    )
    return bdseq
