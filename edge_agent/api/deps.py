"""Dependencies shared by the routes: the running agent and the calling device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge_agent import auth
from edge_agent.auth import Device, Role
from edge_agent.service import StoreAgent

_bearer = HTTPBearer(auto_error=False, description="Device token issued by the store agent")


def get_agent(request: Request) -> StoreAgent:
    agent: StoreAgent = request.app.state.agent
    return agent


AgentDep = Annotated[StoreAgent, Depends(get_agent)]


def current_device(
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


def allow(*roles: Role) -> Callable[[Device], Device]:
    """A dependency that lets only devices with one of ``roles`` through."""
    allowed = frozenset(roles)

    def check(device: Annotated[Device, Depends(current_device)]) -> Device:
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
