"""Dependencies shared by the routers: the hub service, database connections, the HQ principal.

Routes declare what they need with ``Annotated`` aliases (``ReadConn``, ``WriteConn``,
``HQUser``) so each route stays a few lines. A write connection commits before the response is
sent (``scope="function"``): a 200 means the change and its commands are durable.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection

from cloud_hub.db import READ_ONLY
from cloud_hub.service import HubService
from storelink_contract.common import utcnow


def get_service(request: Request) -> HubService:
    return cast(HubService, request.app.state.hub)


ServiceDep = Annotated[HubService, Depends(get_service)]


def read_connection(service: ServiceDep) -> Iterator[Connection]:
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        yield conn


def write_connection(service: ServiceDep) -> Iterator[Connection]:
    with service.engine.begin() as conn:
        yield conn


ReadConn = Annotated[Connection, Depends(read_connection, scope="function")]
WriteConn = Annotated[Connection, Depends(write_connection, scope="function")]


def now() -> datetime:
    return utcnow()


Now = Annotated[datetime, Depends(now)]

_bearer = HTTPBearer(auto_error=False, description="The HQ API token (STORELINK_HUB_API_TOKEN)")


def require_hq(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Accept only ``Authorization: Bearer <api_token>``; 401 with a challenge otherwise."""
    expected = service.settings.api_token.get_secret_value().encode()
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected
    ):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong HQ API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return "hq"


HQUser = Annotated[str, Depends(require_hq)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: HQ (sees everything) or a sales channel (sees its own orders)."""

    kind: Literal["hq", "channel"]
    name: str

    @property
    def channel(self) -> str | None:
        """The channel whose orders this caller may see; None for HQ (all of them)."""
        return self.name if self.kind == "channel" else None


def require_channel_or_hq(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The HQ token, or one of ``STORELINK_HUB_CHANNEL_TOKENS``; 401 otherwise."""
    if credentials is not None:
        given = credentials.credentials.encode()
        if secrets.compare_digest(given, service.settings.api_token.get_secret_value().encode()):
            return Principal("hq", "hq")
        for name, channel_token in service.settings.channels().items():
            if secrets.compare_digest(given, channel_token.encode()):
                return Principal("channel", name)
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="send an HQ or sales-channel token as 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


ChannelOrHQ = Annotated[Principal, Depends(require_channel_or_hq)]
