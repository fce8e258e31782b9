"""The locker: codes at the keypad, QR codes, compartments, the door audit and lockouts.

``POST /v1/lockers/codes`` is what the locker's keypad terminal (role ``locker``) or a kiosk
calls with the digits a customer (pickup code) or a member of staff (load code) typed. Answers:
200 with the door that opened, 422 for a wrong/used/expired code, 429 with ``Retry-After``
during a lockout, 409 when the code is good but there is nothing to open yet, 503 when the
door did not open or the board did not confirm it. Works with the hub unreachable.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from edge_agent import alerts, attempts, doors, lockers
from edge_agent.api.deps import LockerCaller, ManagerCaller, StaffCaller
from edge_agent.auth import Role
from edge_agent.pickup import DoorResult

router = APIRouter(prefix="/v1", tags=["lockers"])


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{8}$", description="The 8 digits typed at the keypad")
    order_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="The order number, where the terminal asks for it first",
    )


class QrBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qr: str = Field(min_length=1, max_length=200, description="The text of the scanned QR code")


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["retrieval", "maintenance"]


class CompartmentView(BaseModel):
    compartment_id: str
    board_device: str
    door: int
    size: str
    state: str
    order_id: str | None
    door_open: bool | None = Field(description="From the board's last reading; None if unknown")
    door_open_since: datetime | None
    in_service: bool


class SettleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parcel_inside: bool = Field(description="What staff found behind the door")


class LiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["device", "order"]
    key: str = Field(min_length=1, max_length=64)


@router.post("/lockers/codes")
def enter_code(body: CodeBody, caller: LockerCaller) -> DoorResult:
    """A pickup code or a staff load code typed at the locker: opens the right door."""
    return caller.agent.locker_desk.enter_code(caller.device.device_id, body.code, body.order_id)


@router.post("/lockers/qr")
def show_qr(body: QrBody, caller: LockerCaller) -> DoorResult:
    """A pickup QR read by a terminal's scanner (the locker camera does this by itself)."""
    return caller.agent.locker_desk.show_qr(caller.device.device_id, body.qr)


@router.get("/lockers")
def list_compartments(caller: StaffCaller) -> list[CompartmentView]:
    agent = caller.agent
    conn = agent.db.read()
    order_of = {a: o for a, o in conn.execute("SELECT allocation_id, order_id FROM online_order")}
    readings = {
        slot.device_id: slot.extra.get("status") for slot in agent.devices.slots if slot.extra
    }
    out = []
    for c in lockers.every(conn):
        reading = readings.get(c.board_device)
        out.append(
            CompartmentView(
                compartment_id=c.compartment_id,
                board_device=c.board_device,
                door=c.lock + 1,
                size=c.size,
                state=c.state,
                order_id=order_of.get(c.allocation_id) if c.allocation_id else None,
                door_open=None if reading is None else c.lock in reading.doors_open,
                door_open_since=c.door_open_since,
                in_service=c.in_service,
            )
        )
    return out


@router.post("/lockers/compartments/{compartment_id}/open")
def open_compartment(
    compartment_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
    body: OpenBody,
    caller: StaffCaller,
) -> DoorResult:
    """Staff open a door: ``retrieval`` empties an expired or cancelled order's compartment;
    ``maintenance`` (managers only) opens any door. Both are audited."""
    if body.purpose == "maintenance" and caller.device.role is not Role.MANAGER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a manager may open doors for service")
    return caller.agent.locker_desk.open_for_staff(
        caller.device.device_id, compartment_id, body.purpose
    )


@router.post("/lockers/compartments/{compartment_id}/settle")
def settle_compartment(
    compartment_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
    body: SettleBody,
    caller: ManagerCaller,
) -> dict[str, str]:
    """After an unlock the board never confirmed, on a board with no item sensor: a manager
    looks behind the door and says whether the parcel is inside (alerted to HQ)."""
    found = caller.agent.locker_desk.settle(
        caller.device.device_id, compartment_id, body.parcel_inside
    )
    return {"compartment_id": compartment_id, "settled": found}


@router.get("/lockers/audit")
def door_audit(caller: StaffCaller) -> list[doors.AuditEntry]:
    """Every door opening attempt, newest first: who, why, when, and how it was confirmed."""
    return doors.audit_log(caller.agent.db.read())


@router.get("/lockers/limits")
def limits(caller: StaffCaller) -> list[attempts.LimitState]:
    """Terminals and orders with recent wrong codes or a lockout."""
    agent = caller.agent
    return attempts.states(agent.db.read(), agent.locker_desk.refused)


@router.post("/lockers/limits/lift", status_code=status.HTTP_204_NO_CONTENT)
def lift(body: LiftBody, caller: ManagerCaller) -> None:
    """End a lockout early (a manager, after checking who is at the locker)."""
    with caller.agent.db.write() as conn:
        if not attempts.lift(conn, body.scope, body.key):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no limit on {body.scope} {body.key}")


@router.get("/alerts")
def list_alerts(caller: StaffCaller) -> list[alerts.AlertView]:
    """This store's alerts, newest first (also sent to HQ)."""
    return alerts.recent(caller.agent.db.read())


@router.get("/devices/{device_id}/last-pickup")
def last_pickup(device_id: str, caller: LockerCaller) -> dict[str, Any]:
    """What the locker camera's last QR did (for the locker screen): ``seq`` rises with each
    answer and ``age_s`` says how long ago it was, so the screen shows each answer once and
    only while it is recent."""
    slot = caller.agent.devices.slot(device_id)
    if slot is None or "last_pickup" not in slot.extra:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pickup at device {device_id!r}")
    answer = dict(slot.extra["last_pickup"])
    recorded_at = answer.pop("recorded_at", None)
    # The agent's monotonic clock, not the wall clock: the screen's clock may differ.
    age = None if recorded_at is None else max(0.0, time.monotonic() - recorded_at)
    return {**answer, "age_s": None if age is None else round(age, 1)}
