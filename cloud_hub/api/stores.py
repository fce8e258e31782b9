"""Fleet routes: store status, one store's stock, safety stock and resync requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from cloud_hub import commands, directory, fanout, fleet, stock
from cloud_hub.api.deps import (
    Now,
    ReadConn,
    ServiceDep,
    WriteConn,
    require_hq,
    require_operator,
)
from cloud_hub.db import table, upsert
from cloud_hub.orders.tables import MethodSafetyStock, StoreProfile
from cloud_hub.schemas import CommandsEnqueued, StoreStatus, StoreStockView
from storelink_contract.commands import ResyncRequest, SafetyStockLevel, SafetyStockSet
from storelink_contract.common import Sku
from storelink_contract.orders import FULFILMENT_METHODS, FulfilmentMethod
from storelink_contract.topics import STORE_ID_PATTERN

router = APIRouter(prefix="/v1/stores", tags=["stores"], dependencies=[Depends(require_hq)])

StoreIdPath = Annotated[str, Path(pattern=STORE_ID_PATTERN)]
_SP = table(StoreProfile)
_MSS = table(MethodSafetyStock)


class SafetyStockBody(BaseModel):
    levels: list[SafetyStockLevel] = Field(min_length=1, max_length=10_000)


class ProfileBody(BaseModel):
    """Where the store is and what it offers, for order routing."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    order_capacity: int = Field(default=100, ge=0, le=100_000)
    methods: list[FulfilmentMethod] = Field(default_factory=lambda: list(FULFILMENT_METHODS))


class MethodLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    method: FulfilmentMethod
    quantity: int = Field(ge=0, le=1_000_000)


class MethodSafetyBody(BaseModel):
    levels: list[MethodLevel] = Field(min_length=1, max_length=10_000)


class ResyncBody(BaseModel):
    reason: str = Field(default="requested by HQ", max_length=200)


def _known(conn: Connection, store_id: str) -> None:
    if not fleet.store_exists(conn, store_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown store {store_id!r}")


@router.get("")
def list_stores(conn: ReadConn) -> list[StoreStatus]:
    """Every store, those in trouble first: offline, then the biggest backlog."""
    return fleet.statuses(conn)


@router.get("/{store_id}")
def get_store(store_id: StoreIdPath, conn: ReadConn) -> StoreStatus:
    found = fleet.status(conn, store_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown store {store_id!r}")
    return found


@router.get("/{store_id}/stock")
def get_store_stock(store_id: StoreIdPath, conn: ReadConn) -> StoreStockView:
    _known(conn, store_id)
    return stock.store_view(conn, store_id)


@router.put("/{store_id}/safety-stock", dependencies=[Depends(require_operator)])
def put_safety_stock(
    store_id: StoreIdPath, body: SafetyStockBody, conn: WriteConn, service: ServiceDep, now: Now
) -> CommandsEnqueued:
    """Store the levels and tell the store (``SafetyStockSet``); kiosks elsewhere see the new
    available figures with the next fan-out."""
    _known(conn, store_id)
    levels = {lv.sku: lv for lv in body.levels}  # the last level given for a sku wins
    skus = stock.set_safety_stock(conn, store_id, levels.values(), now)
    command = SafetyStockSet(at=now, levels=tuple(levels.values()))
    seqs = commands.enqueue(conn, [store_id], command, now)
    service.fanout.note(store_id, skus)
    return CommandsEnqueued(command_type=command.type, seq_by_store=seqs)


@router.put("/{store_id}/profile", dependencies=[Depends(require_operator)])
def put_profile(
    store_id: StoreIdPath, body: ProfileBody, conn: WriteConn, service: ServiceDep, now: Now
) -> ProfileBody:
    """Set the store's location, capacity and fulfilment methods (registers a store that has
    not connected yet, so it can be set up before it opens). Stores whose nearest stores
    change with it are told at once."""
    fleet.ensure_store(conn, store_id, now)
    stmt = upsert(conn, _SP)
    values = {**body.model_dump(), "methods": ",".join(body.methods), "updated_at": now}
    conn.execute(
        stmt.values(store_id=store_id, **values).on_conflict_do_update(
            index_elements=["store_id"], set_=values
        )
    )
    directory.send(conn, now)  # every store's kiosk learns where this one is
    fanout.refresh_peers(conn, now, service.fanout.nearby_stores)
    return body


@router.put("/{store_id}/fulfilment-safety-stock", dependencies=[Depends(require_operator)])
def put_method_safety_stock(
    store_id: StoreIdPath, body: MethodSafetyBody, conn: WriteConn
) -> dict[str, int]:
    """Units held back from one fulfilment method (e.g. keep 2 for walk-in shoppers when
    routing ship-from-store orders); replaces the store's safety stock for that method."""
    _known(conn, store_id)
    stmt = upsert(conn, _MSS)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["store_id", "sku", "method"], set_={"quantity": stmt.excluded.quantity}
        ),
        [{"store_id": store_id, **level.model_dump()} for level in body.levels],
    )
    return {"levels": len(body.levels)}


@router.post(
    "/{store_id}/resync",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_operator)],
)
def request_resync(
    store_id: StoreIdPath, conn: WriteConn, now: Now, body: ResyncBody | None = None
) -> CommandsEnqueued:
    """Ask the store for a full stock snapshot."""
    _known(conn, store_id)
    command = ResyncRequest(at=now, reason=(body or ResyncBody()).reason)
    return CommandsEnqueued(
        command_type=command.type, seq_by_store=commands.enqueue(conn, [store_id], command, now)
    )
