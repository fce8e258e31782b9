"""Quarantine route: what could not be applied, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cloud_hub import quarantine, replay
from cloud_hub.api.deps import Now, ReadConn, ServiceDep, WriteConn, require_hq, require_operator
from cloud_hub.schemas import QuarantineEntry

router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"], dependencies=[Depends(require_hq)])


@router.post("/{entry_id}/replay", dependencies=[Depends(require_operator)])
def replay_entry(
    entry_id: Annotated[int, Path(ge=1)], conn: WriteConn, service: ServiceDep, now: Now
) -> QuarantineEntry:
    """Apply a set-aside event now that its cause is fixed; 422 with the reason if it still
    cannot be applied, 409 for a whole message (not replayable) or one replayed already."""
    store_id, changed = replay.replay(conn, entry_id, now, service.order_rules)
    service.fanout.note(store_id, changed)
    entry = quarantine.entry(conn, entry_id)
    assert entry is not None  # replay found it
    return entry


@router.get("")
def list_quarantine(
    conn: ReadConn,
    store_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QuarantineEntry]:
    """Newest first."""
    return quarantine.listing(conn, store_id=store_id, limit=limit)
