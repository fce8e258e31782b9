"""Devices and RFID: health for staff, a kiosk scanner's last answer, presence and counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.api.deps import AnyCaller, StaffCaller
from edge_agent.movements import MovementResult
from storelink_contract.common import ExternalId, Sku
from storelink_contract.session import DeviceHealth

router = APIRouter(prefix="/v1", tags=["devices"])


class DeviceView(BaseModel):
    health: DeviceHealth
    role: str | None
    last_error: str
    details: dict[str, Any]


class Presence(BaseModel):
    zones: list[str] | None
    by_sku: dict[str, int]
    unknown_gtins: dict[str, int] = Field(description="Tagged items the catalog does not know")
    reads: int
    duplicates_dropped: int


class CountBody(BaseModel):
    """A count always covers every RFID zone: it replaces store-wide on-hand."""

    model_config = ConfigDict(extra="forbid")

    count_id: ExternalId = Field(description="Unique per count; a retry reuses it")
    skus: list[Sku] | None = Field(
        default=None,
        max_length=10_000,
        description="Skus the count covers (unseen ones count as 0); the skus heard if omitted",
    )


@router.get("/devices")
def list_devices(caller: StaffCaller) -> list[DeviceView]:
    """Every configured device: connected, last frame, error counts, what it last did."""
    return [
        DeviceView(
            health=slot.health(),
            role=getattr(slot.config, "role", None),
            last_error=slot.last_error,
            details={
                k: v for k, v in dict(slot.extra).items() if k in ("last_scan", "last_refusal")
            },
        )
        for slot in caller.agent.devices.slots
    ]


@router.get("/devices/{device_id}/last-lookup")
def last_lookup(device_id: str, caller: AnyCaller) -> Any:
    """What the kiosk's scanner or camera last looked up (for the kiosk screen)."""
    slot = caller.agent.devices.slot(device_id)
    if slot is None or "last_lookup" not in slot.extra:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lookup at device {device_id!r}")
    return slot.extra["last_lookup"]


@router.get("/rfid/presence")
def presence(caller: StaffCaller, zone: Annotated[list[str] | None, Query()] = None) -> Presence:
    """Tagged items present now, per sku, in the given zones."""
    actions = caller.agent.device_actions
    by_sku, unknown = actions.present_by_sku(zone)
    return Presence(
        zones=zone,
        by_sku=by_sku,
        unknown_gtins=unknown,
        reads=actions.presence.reads,
        duplicates_dropped=actions.presence.duplicates,
    )


@router.post("/rfid/counts", status_code=status.HTTP_201_CREATED)
def post_count(body: CountBody, caller: StaffCaller) -> MovementResult:
    """Record an RFID cycle count of the whole store: differences from on-hand become
    ``count`` adjustments. Refused (409) while a reader is down or has just connected."""
    readers = caller.agent.devices.listening_since(("rfid_serial", "rfid_llrp"))
    return caller.agent.device_actions.record_count(body.count_id, body.skus, readers)
