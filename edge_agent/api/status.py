"""GET /healthz and GET /v1/status: is the agent up, and how far behind is its sync?"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from edge_agent.api.deps import AgentDep, AnyCaller, StaffCaller

router = APIRouter(tags=["status"])


@router.get("/healthz")
async def healthz(agent: AgentDep) -> dict[str, str]:
    """Liveness for process supervisors; no token needed and nothing sensitive returned."""
    return {"status": "ok", "store_id": agent.settings.store_id}


class Me(BaseModel):
    device_id: str
    role: str
    store_id: str
    store_name: str | None = Field(
        description="The store's name from the hub's store directory; None until it arrives"
    )


@router.get("/v1/me")
def who_am_i(caller: AnyCaller) -> Me:
    """The device this token belongs to and its store (the store pages check the role at
    sign-in and show the store's name)."""
    store_id = caller.agent.settings.store_id
    row = (
        caller.agent.db.read()
        .execute("SELECT name FROM peer_store WHERE store_id = ?", (store_id,))
        .fetchone()
    )
    return Me(
        device_id=caller.device.device_id,
        role=caller.device.role.value,
        store_id=store_id,
        store_name=row[0] if row and row[0] else None,
    )


@router.get("/v1/status")
def get_status(caller: StaffCaller) -> dict[str, Any]:
    """Sync state: broker connection, hub online, acked position, backlog and its age."""
    agent = caller.agent
    return {"store_id": agent.settings.store_id, "uplink": asdict(agent.uplink.status())}
