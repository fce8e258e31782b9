"""GET /healthz and GET /v1/status: is the agent up, and how far behind is its sync?"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from edge_agent.api.deps import AgentDep, StaffCaller

router = APIRouter(tags=["status"])


@router.get("/healthz")
async def healthz(agent: AgentDep) -> dict[str, str]:
    """Liveness for process supervisors; no token needed and nothing sensitive returned."""
    return {"status": "ok", "store_id": agent.settings.store_id}


@router.get("/v1/status")
def get_status(caller: StaffCaller) -> dict[str, Any]:
    """Sync state: broker connection, hub online, acked position, backlog and its age."""
    agent = caller.agent
    return {"store_id": agent.settings.store_id, "uplink": asdict(agent.uplink.status())}
