"""Builds the store's FastAPI app around a ``StoreAgent`` and maps domain errors to HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from edge_agent import __version__
from edge_agent.api import devices, kiosk, lockers, movements, orders, returns, sales, stock
from edge_agent.api import status as status_routes
from edge_agent.device_actions import CountNotPossible, UnknownZone
from edge_agent.doors import DoorBusy
from edge_agent.errors import (
    HubRefused,
    HubUnreachable,
    IdempotencyConflict,
    StoreError,
    UnknownProduct,
)
from edge_agent.fulfilment import UnknownOrder, WrongOrderState
from edge_agent.kiosk import KioskOrderRefused, NotAvailable
from edge_agent.pickup import CodeRefused, DoorProblem, LockedOut, NotHere
from edge_agent.return_requests import NeedsOverride, OverrideNotAllowed, ReturnRefused
from edge_agent.sales import TendersDoNotAddUp
from edge_agent.service import StoreAgent
from edge_agent.web import pages
from storelink_contract.api_docs import serve_docs
from storelink_contract.envelope import describe_validation_error

_STATUS_OF: dict[type[StoreError], int] = {
    UnknownProduct: status.HTTP_422_UNPROCESSABLE_CONTENT,
    UnknownZone: status.HTTP_422_UNPROCESSABLE_CONTENT,
    IdempotencyConflict: status.HTTP_409_CONFLICT,
    CountNotPossible: status.HTTP_409_CONFLICT,
    UnknownOrder: status.HTTP_404_NOT_FOUND,
    WrongOrderState: status.HTTP_409_CONFLICT,
    CodeRefused: status.HTTP_422_UNPROCESSABLE_CONTENT,
    LockedOut: status.HTTP_429_TOO_MANY_REQUESTS,
    NotHere: status.HTTP_409_CONFLICT,
    DoorBusy: status.HTTP_409_CONFLICT,
    DoorProblem: status.HTTP_503_SERVICE_UNAVAILABLE,
    ReturnRefused: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NeedsOverride: status.HTTP_409_CONFLICT,
    OverrideNotAllowed: status.HTTP_403_FORBIDDEN,
    TendersDoNotAddUp: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotAvailable: status.HTTP_409_CONFLICT,
    KioskOrderRefused: status.HTTP_422_UNPROCESSABLE_CONTENT,
    HubUnreachable: status.HTTP_503_SERVICE_UNAVAILABLE,
    HubRefused: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def create_app(agent: StoreAgent, *, manage_lifecycle: bool = True) -> FastAPI:
    """The store API. With ``manage_lifecycle`` the app starts and stops the agent."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            agent.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                agent.stop()

    app = FastAPI(
        title=f"StoreLink store {agent.settings.store_id}",
        version=__version__,
        summary="Local API for tills, kiosks and staff devices; works with the hub unreachable.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    serve_docs(app)  # from local files: a store network may have no internet
    app.state.agent = agent
    app.mount("/assets", pages.assets(), name="assets")
    for router in (
        sales.router,
        movements.router,
        orders.router,
        lockers.router,
        returns.router,
        kiosk.router,
        pages.router,
        stock.router,
        devices.router,
        status_routes.router,
    ):
        app.include_router(router)

    @app.exception_handler(ValidationError)
    async def out_of_range(_request: Request, exc: ValidationError) -> JSONResponse:
        # A body that passed its own checks but builds an impossible event (a total beyond
        # any till's range): a clear refusal, never a 500 that the till retries forever.
        return JSONResponse(
            {"detail": describe_validation_error(exc), "error": "OutOfRange"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        code = _STATUS_OF.get(type(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LockedOut) else None
        return JSONResponse(
            {"detail": str(exc), "error": type(exc).__name__}, status_code=code, headers=headers
        )

    return app
