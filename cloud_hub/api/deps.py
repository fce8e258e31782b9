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

from cloud_hub import users
from cloud_hub.db import READ_ONLY
from cloud_hub.service import HubService
from cloud_hub.users import Role
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

_bearer = HTTPBearer(
    auto_error=False, description="The HQ API token, or a sales channel's token (orders)"
)

#: The dashboard's session cookie (HttpOnly, SameSite=Strict); see ``cloud_hub.users``.
SESSION_COOKIE = "storelink_session"
CSRF_HEADER = "X-CSRF-Token"

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: HQ (the API token, or a signed-in user with a role) or a sales channel
    (sees its own orders only)."""

    kind: Literal["hq", "channel"]
    name: str
    role: Role = "operator"
    #: Set for a cookie session: state-changing requests must send it back.
    csrf_token: str | None = None

    @property
    def channel(self) -> str | None:
        """The channel whose orders this caller may see; None for HQ (all of them)."""
        return self.name if self.kind == "channel" else None


def _hq(request: Request, service: HubService, credentials: Credentials) -> Principal | None:
    if credentials is not None:
        given = credentials.credentials.encode()
        if secrets.compare_digest(given, service.settings.api_token.get_secret_value().encode()):
            return Principal("hq", "api", "operator")
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        signed = users.session(conn, cookie, utcnow())
    if signed is None:
        return None
    return Principal("hq", signed.username, signed.role, signed.csrf_token)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_hq(request: Request, service: ServiceDep, credentials: Credentials) -> Principal:
    """HQ: ``Authorization: Bearer <api_token>``, or a dashboard sign-in; 401 otherwise."""
    found = _hq(request, service, credentials)
    if found is None:
        raise _unauthorized("sign in, or send the HQ API token as 'Authorization: Bearer ...'")
    return found


def _may_act(request: Request, principal: Principal) -> Principal:
    if principal.role != "operator":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{principal.name} is a viewer: an operator must do this"
        )
    given = request.headers.get(CSRF_HEADER, "")
    if principal.csrf_token is not None and not secrets.compare_digest(
        given.encode(), principal.csrf_token.encode()
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    return principal


def require_operator(request: Request, service: ServiceDep, credentials: Credentials) -> Principal:
    """HQ allowed to act: the API token, or a signed-in operator (with the CSRF header)."""
    return _may_act(request, require_hq(request, service, credentials))


HQUser = Annotated[Principal, Depends(require_hq)]
Operator = Annotated[Principal, Depends(require_operator)]


def _channel(service: HubService, credentials: Credentials) -> Principal | None:
    if credentials is None:
        return None
    given = credentials.credentials.encode()
    for name, channel_token in service.settings.channels().items():
        if secrets.compare_digest(given, channel_token.encode()):
            return Principal("channel", name)
    return None


def require_channel_or_hq(
    request: Request, service: ServiceDep, credentials: Credentials
) -> Principal:
    """HQ (token or sign-in), or one of ``STORELINK_HUB_CHANNEL_TOKENS``; 401 otherwise."""
    found = _hq(request, service, credentials) or _channel(service, credentials)
    if found is None:
        raise _unauthorized("send an HQ or sales-channel token as 'Authorization: Bearer ...'")
    return found


def require_channel_or_operator(
    request: Request, service: ServiceDep, credentials: Credentials
) -> Principal:
    """A sales channel, or HQ allowed to act (for placing and cancelling orders)."""
    found = require_channel_or_hq(request, service, credentials)
    return found if found.kind == "channel" else _may_act(request, found)


ChannelOrHQ = Annotated[Principal, Depends(require_channel_or_hq)]
ChannelOrOperator = Annotated[Principal, Depends(require_channel_or_operator)]
