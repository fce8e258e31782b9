"""Builds the hub's FastAPI app; its lifespan starts and stops the hub service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from cloud_hub.api import catalog, health, quarantine, stock, stores
from cloud_hub.service import HubService
from cloud_hub.settings import HubSettings

log = logging.getLogger(__name__)


def create_app(settings: HubSettings, *, with_link: bool = True) -> FastAPI:
    """The HQ API over a hub service; ``with_link=False`` runs without a broker (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = HubService(settings, with_link=with_link)
        await run_in_threadpool(service.start)
        app.state.hub = service
        log.info("hub ready: http://%s:%d/docs", settings.http_host, settings.http_port)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)
            log.info("hub stopped")

    app = FastAPI(
        title="StoreLink hub",
        summary="Fleet status, stock across stores, catalog and commands to stores",
        version="0.1.0",
        lifespan=lifespan,
    )
    for module in (health, stores, stock, catalog, quarantine):
        app.include_router(module.router)
    return app
