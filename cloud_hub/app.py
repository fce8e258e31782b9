"""Builds the hub's FastAPI app; its lifespan starts and stops the hub service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from cloud_hub.api import (
    alerts,
    catalog,
    dashboard,
    health,
    orders,
    quarantine,
    returns,
    session,
    stock,
    stores,
)
from cloud_hub.api.deps import require_hq
from cloud_hub.errors import Conflict, HubError, Invalid, NotFound
from cloud_hub.service import HubService
from cloud_hub.settings import HubSettings
from cloud_hub.web import pages
from cloud_hub.web.headers import SecurityHeaders
from storelink_contract.api_docs import serve_docs

log = logging.getLogger(__name__)


def create_app(settings: HubSettings, *, with_link: bool = True) -> FastAPI:
    """The HQ API over a hub service; ``with_link=False`` runs without a broker (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = HubService(settings, with_link=with_link)
        await run_in_threadpool(service.start)
        app.state.hub = service
        log.info("hub ready: http://%s:%d/dashboard", settings.http_host, settings.http_port)
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
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    serve_docs(app, schema_guard=require_hq, page_guard=pages.require_signed_in_page)
    app.add_middleware(SecurityHeaders)
    for module in (
        health,
        session,
        stores,
        stock,
        catalog,
        quarantine,
        orders,
        alerts,
        returns,
        dashboard,
        pages,
    ):
        app.include_router(module.router)
    app.mount("/assets", pages.assets(), name="assets")

    @app.exception_handler(OperationalError)
    async def database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        # A deadlock or a lost connection: nothing was committed, and a retry is safe (every
        # write is idempotent on its client's id).
        log.warning("database refused a request: %s", exc.orig)
        return JSONResponse(
            {"detail": "the database is busy; retry the request", "error": "DatabaseBusy"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(HubError)
    async def hub_error(_request: Request, exc: HubError) -> JSONResponse:
        code = _STATUS_OF.get(type(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code)

    return app


_STATUS_OF: dict[type[HubError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
}
