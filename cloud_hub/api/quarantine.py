"""Quarantine route: what could not be applied, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloud_hub import quarantine
from cloud_hub.api.deps import ReadConn, require_hq
from cloud_hub.schemas import QuarantineEntry

router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"], dependencies=[Depends(require_hq)])


@router.get("")
def list_quarantine(
    conn: ReadConn,
    store_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QuarantineEntry]:
    """Newest first."""
    return quarantine.listing(conn, store_id=store_id, limit=limit)
