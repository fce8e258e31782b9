"""Dependencies shared by the routes: the running agent and the calling device.

All ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, and three such
hops per request halved the kiosk lookup rate (measured). The token check is a primary-key read
of microseconds, fine on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge_agent import auth
from edge_agent.auth import Device, Role
from edge_agent.service import StoreAgent

_bearer = HTTPBearer(auto_error=False, description="Device token issued by the store agent")


async def get_agent(request: Request) -> StoreAgent:
    agent: StoreAgent = request.app.state.agent
    return agent


AgentDep = Annotated[StoreAgent, Depends(get_agent)]


async def current_device(
    agent: AgentDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Device:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send the device token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    device = auth.authenticate(agent.db.read(), credentials.credentials)
    if device is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked device token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return device


def allow(*roles: Role) -> Callable[[Device], Coroutine[Any, Any, Device]]:
    """A dependency that lets only devices with one of ``roles`` through."""
    allowed = frozenset(roles)

    async def check(device: Annotated[Device, Depends(current_device)]) -> Device:
        if device.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a {device.role} device may not do this; allowed: "
                + ", ".join(sorted(r.value for r in allowed)),
            )
        return device

    return check


TillDevice = Annotated[Device, Depends(allow(Role.POS, Role.MANAGER))]
StaffDevice = Annotated[Device, Depends(allow(Role.STAFF, Role.MANAGER))]
AnyDevice = Annotated[Device, Depends(allow(*Role))]
