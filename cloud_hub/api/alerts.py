"""Alert routes: what stores and the hub raised for HQ, and acknowledging them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from cloud_hub import alerts
from cloud_hub.alerts import AlertOut
from cloud_hub.api.deps import Now, Operator, ReadConn, WriteConn, require_hq

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], dependencies=[Depends(require_hq)])


@router.get("")
def list_alerts(
    conn: ReadConn,
    store_id: Annotated[str | None, Query(max_length=32)] = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Newest first; ``open_only`` leaves out acknowledged ones."""
    return alerts.listing(conn, store_id=store_id, open_only=open_only, limit=limit)


@router.post("/{alert_id}/acknowledge", status_code=status.HTTP_204_NO_CONTENT)
def acknowledge(
    alert_id: Annotated[int, Path(ge=1)], user: Operator, conn: WriteConn, now: Now
) -> None:
    if not alerts.acknowledge(conn, alert_id, user.name, now):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open alert {alert_id}")
