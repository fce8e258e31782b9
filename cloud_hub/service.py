"""One hub process's moving parts: the database, the fan-out, the MQTT link and the jobs.

The FastAPI app's lifespan starts and stops it; tests build it without the link to exercise
the API and the domain against a real database with no broker. The jobs (allocations past
their deadline, customer notifications) run on APScheduler every ``jobs_interval_s``; several
hub processes may run them at once (each step claims its rows first).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from cloud_hub import notify, users
from cloud_hub.db import create_schema, make_engine
from cloud_hub.fanout import FanOut
from cloud_hub.inbound import Inbound
from cloud_hub.link import HubLink
from cloud_hub.orders import routing
from cloud_hub.orders.rules import OrderRules
from cloud_hub.returns import authority
from cloud_hub.settings import HubSettings
from cloud_hub.throttle import SignInThrottle
from storelink_contract.common import utcnow

log = logging.getLogger(__name__)


class HubService:
    """Owns the engine, the fan-out, (optionally) the MQTT link, and the scheduled jobs."""

    def __init__(
        self, settings: HubSettings, *, with_link: bool = True, with_jobs: bool | None = None
    ) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.fanout = FanOut(settings.nearby_stores)
        self.order_rules = OrderRules.from_settings(settings)
        self.inbound = Inbound(self.engine, self.fanout, self.order_rules)
        self.link: HubLink | None = (
            HubLink(settings, self.engine, self.inbound, self.fanout) if with_link else None
        )
        self.notifier = notify.load_notifier(settings)
        self.sign_in_throttle = SignInThrottle()
        #: Set when the hub stops: live dashboard streams still open end (uvicorn's graceful
        #: shutdown timeout closes the others before the lifespan ends, see ``cloud_hub.main``).
        self.stopping = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        if with_link if with_jobs is None else with_jobs:
            self._scheduler = BackgroundScheduler(timezone=UTC)
            for job in (self.sweep_allocations, self.send_notifications, self.lapse_returns):
                self._scheduler.add_job(
                    job,
                    "interval",
                    seconds=settings.jobs_interval_s,
                    id=job.__name__,
                    coalesce=True,
                    max_instances=1,
                )

    def start(self) -> None:
        create_schema(self.engine)
        if self.settings.bootstrap_users.get_secret_value():
            with self.engine.begin() as conn:
                now = utcnow()
                for name, role, password in users.parse_bootstrap(
                    self.settings.bootstrap_users.get_secret_value()
                ):
                    users.add_user(conn, name, role, password, now)
        if self.link is not None:
            self.link.start()
        if self._scheduler is not None:
            self._scheduler.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        if self.link is not None:
            self.link.stop()
        self.engine.dispose()

    def sweep_allocations(self) -> list[str]:
        """Re-route orders whose store did not answer in time (a job; callable on demand)."""
        with self.engine.begin() as conn:
            moved = routing.sweep(conn, utcnow(), self.order_rules)
        for order_id in moved:
            log.info("order %s: its store did not answer in time; re-routed", order_id)
        return moved

    def lapse_returns(self) -> int:
        """Give back units of return authorizations no till completed (a job)."""
        with self.engine.begin() as conn:
            return authority.lapse(conn, utcnow())

    def send_notifications(self) -> int:
        """Hand due customer notifications to the notifier (a job; callable on demand)."""
        return notify.deliver(
            self.engine, self.notifier, utcnow(), self.settings.seal_key.get_secret_value()
        )
