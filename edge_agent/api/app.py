"""Builds the store's FastAPI app around a ``StoreAgent`` and maps domain errors to HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from edge_agent import __version__
from edge_agent.api import devices, movements, sales, stock
from edge_agent.api import status as status_routes
from edge_agent.device_actions import CountNotPossible, UnknownZone
from edge_agent.errors import IdempotencyConflict, StoreError, UnknownProduct
from edge_agent.service import StoreAgent
from storelink_contract.envelope import describe_validation_error

_STATUS_OF: dict[type[StoreError], int] = {
    UnknownProduct: status.HTTP_422_UNPROCESSABLE_CONTENT,
    UnknownZone: status.HTTP_422_UNPROCESSABLE_CONTENT,
    IdempotencyConflict: status.HTTP_409_CONFLICT,
    CountNotPossible: status.HTTP_409_CONFLICT,
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
    )
    app.state.agent = agent
    for router in (
        sales.router,
        movements.router,
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
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code)

    return app
