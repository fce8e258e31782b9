"""One hub process's moving parts: the database, the fan-out and the MQTT link.

The FastAPI app's lifespan starts and stops it; tests build it without the link to exercise
the API and the domain against a real database with no broker.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from cloud_hub.db import create_schema, make_engine
from cloud_hub.fanout import FanOut
from cloud_hub.inbound import Inbound
from cloud_hub.link import HubLink
from cloud_hub.settings import HubSettings

log = logging.getLogger(__name__)


class HubService:
    """Owns the engine, the fan-out and (optionally) the MQTT link."""

    def __init__(self, settings: HubSettings, *, with_link: bool = True) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.fanout = FanOut()
        self.inbound = Inbound(self.engine, self.fanout)
        self.link: HubLink | None = (
            HubLink(settings, self.engine, self.inbound, self.fanout) if with_link else None
        )

    def start(self) -> None:
        create_schema(self.engine)
        if self.link is not None:
            self.link.start()

    def stop(self) -> None:
        if self.link is not None:
            self.link.stop()
        self.engine.dispose()
