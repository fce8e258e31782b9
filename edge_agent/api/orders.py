"""Online orders for staff: the pick list, scan-to-pick, packing, shipping, counter handover.

Thin routes over ``fulfilment``, ``picking`` and ``pickup``; everything works with the hub
unreachable. A refused pick scan (wrong item, too many) answers 409 with the reason, after the
refusal is recorded on the order for the pick screen.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent import fulfilment, picking
from edge_agent.api.deps import ManagerCaller, StaffCaller
from edge_agent.fulfilment import StoreOrder
from edge_agent.picking import PackResult
from storelink_contract.common import Quantity, utcnow
from storelink_contract.orders import ParcelSize, PickupSecrets

router = APIRouter(prefix="/v1", tags=["online orders"])

OrderPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartPicking(_Body):
    station: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="A pack-station scanner's device id: its scans then pick this order",
    )


class PickScan(_Body):
    code: str = Field(min_length=1, max_length=64, description="The scanned GTIN, or a sku")
    quantity: Quantity = 1


class PickAnswer(BaseModel):
    message: str
    order: StoreOrder


class PackBody(_Body):
    parcel_size: ParcelSize = Field(description="S, M or L: picks the smallest locker that fits")


class ShipBody(_Body):
    carrier: str = Field(min_length=1, max_length=40)
    tracking: str = Field(default="", max_length=60)


class ReissueBody(_Body):
    reason: str = Field(default="customer lost the code", min_length=1, max_length=300)


class HandoverBody(_Body):
    code: str | None = Field(default=None, pattern=r"^[0-9]{8}$")
    qr: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> HandoverBody:
        if (self.code is None) == (self.qr is None):
            raise ValueError("give the customer's pickup code or the scanned QR, not both")
        return self


@router.get("/orders")
def list_orders(
    caller: StaffCaller,
    state: Annotated[Literal["open", "all"], Query()] = "open",
) -> list[StoreOrder]:
    """Online orders at this store, oldest first (``open``: not yet collected or finished)."""
    statuses = (
        fulfilment.OPEN_STATUSES
        if state == "open"
        else (*fulfilment.OPEN_STATUSES, "collected", "shipped", "expired", "released", "rejected")
    )
    return fulfilment.listing(caller.agent.db.read(), statuses)


@router.get("/orders/{order_id}")
def get_order(order_id: OrderPath, caller: StaffCaller) -> StoreOrder:
    return fulfilment.latest(caller.agent.db.read(), order_id)


@router.get("/picklist")
def pick_list(caller: StaffCaller) -> list[StoreOrder]:
    """Orders to pick, nearest deadline first, with what is left to pick on each line."""
    return picking.pick_list(caller.agent.db.read())


@router.post("/orders/{order_id}/picking")
def start_picking(order_id: OrderPath, body: StartPicking, caller: StaffCaller) -> StoreOrder:
    with caller.agent.db.write() as conn:
        return picking.start_picking(conn, order_id, body.station, utcnow())


@router.post(
    "/orders/{order_id}/picks",
    responses={409: {"description": "Not an item of this order, or already picked in full"}},
)
def pick(order_id: OrderPath, body: PickScan, caller: StaffCaller) -> PickAnswer:
    """Confirm a picked item by its scanned code."""
    with caller.agent.db.write() as conn:
        outcome = picking.pick(conn, order_id, body.code, body.quantity, utcnow())
    if not outcome.accepted:
        raise HTTPException(status.HTTP_409_CONFLICT, outcome.message)
    return PickAnswer(message=outcome.message, order=outcome.order)


@router.post("/orders/{order_id}/pack")
def pack(order_id: OrderPath, body: PackBody, caller: StaffCaller) -> PackResult:
    """Everything picked: assign the smallest free locker that fits (or the pickup shelf). The
    answer carries the staff load code that opens the compartment; print it on the label."""
    agent = caller.agent
    with agent.db.write() as conn:
        return picking.pack(conn, agent.policy, order_id, body.parcel_size, utcnow())


@router.post("/orders/{order_id}/load-code")
def new_load_code(order_id: OrderPath, caller: StaffCaller) -> PackResult:
    """A new staff load code for a packed order (the label was lost); the old one stops."""
    agent = caller.agent
    with agent.db.write() as conn:
        return picking.new_load_code(conn, agent.policy, order_id, utcnow())


@router.post("/orders/{order_id}/receive")
def receive_transfer(order_id: OrderPath, caller: StaffCaller) -> StoreOrder:
    """A ship-to-store parcel arrived from another store: on the shelf, the customer told."""
    agent = caller.agent
    with agent.db.write() as conn:
        return picking.receive_transfer(conn, agent.policy, order_id, utcnow())


@router.post("/orders/{order_id}/ship")
def ship(order_id: OrderPath, body: ShipBody, caller: StaffCaller) -> StoreOrder:
    with caller.agent.db.write() as conn:
        return picking.ship(conn, order_id, body.carrier, body.tracking, utcnow())


@router.post("/orders/{order_id}/pickup-code")
def reissue_code(order_id: OrderPath, body: ReissueBody, caller: ManagerCaller) -> PickupSecrets:
    """A new pickup code and QR for the customer (the old ones stop working); shown once here
    and sent to the customer through the hub."""
    agent = caller.agent
    with agent.db.write() as conn:
        return fulfilment.reissue_code(conn, agent.policy, order_id, body.reason, utcnow())


@router.post("/orders/handover")
def hand_over(body: HandoverBody, caller: StaffCaller) -> StoreOrder:
    """The customer collects at the counter: staff enter the code or scan the QR."""
    return caller.agent.locker_desk.hand_over(caller.device.device_id, body.code, body.qr)
