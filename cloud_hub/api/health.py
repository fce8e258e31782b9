"""``GET /healthz``: liveness for load balancers and the demo (no token)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cloud_hub.api.deps import ServiceDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    broker_connected: bool | None


@router.get("/healthz")
def healthz(service: ServiceDep) -> Health:
    link = service.link
    return Health(status="ok", broker_connected=None if link is None else link.session.connected)
