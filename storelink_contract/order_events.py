"""Events a store reports about online orders, its lockers and its alerts.

The fulfilment state machine runs at the store (it must work with the hub unreachable); every
transition is one of these events, committed with the transition itself, so the hub's order
timeline is exactly the store's history, late but never different. Each order event names its
``allocation_id``: the hub applies it only to the allocation it belongs to, so a late answer
from a store the order was taken away from changes nothing.

Only a handover (or a shipment) changes on-hand: until then the units stay in the store,
reserved, and ``deltas`` is empty.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from storelink_contract.common import EventBase, ExternalId, Sku, Timestamp
from storelink_contract.order_requests import OrderRequest
from storelink_contract.orders import (
    AllocationId,
    OrderId,
    ParcelSize,
    PickupLocation,
)

#: base64url of a sealed box (``storelink_contract.sealing``).
SealedBox = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+={0,2}$", max_length=2000)]


class _OrderEvent(EventBase):
    order_id: OrderId
    allocation_id: AllocationId


class OrderAccepted(_OrderEvent):
    """Stock reserved until ``reserved_until``; ``sealed_pickup`` is the customer's code and QR
    (``PickupSecrets`` as JSON, sealed to the hub's key; none for shipments). Issued now, so a
    customer can collect even if the store is offline when the parcel goes into the locker."""

    type: Literal["order_accepted"] = "order_accepted"
    reserved_until: Timestamp
    sealed_pickup: SealedBox | None = None


class OrderRejected(_OrderEvent):
    """The store cannot serve the allocation; ``short`` is what it has of the missing skus."""

    type: Literal["order_rejected"] = "order_rejected"
    reason: str = Field(max_length=300)
    short: dict[Sku, int] = Field(default_factory=dict)


class OrderProgressed(_OrderEvent):
    """Picking started, the parcel is packed, or (ship-from-store) it left with the carrier;
    a shipment carries the ``fulfilment`` deltas."""

    type: Literal["order_progressed"] = "order_progressed"
    status: Literal["picking", "packed", "shipped"]
    parcel_size: ParcelSize | None = None
    tracking: str = Field(default="", max_length=100)


class OrderReady(_OrderEvent):
    """The parcel is in its locker (door closed on it) or on the pickup shelf."""

    type: Literal["order_ready"] = "order_ready"
    location: PickupLocation
    pickup_expires_at: Timestamp


class OrderCollected(_OrderEvent):
    """The customer has the parcel: the locker door opened for their code, or staff handed it
    over at the counter. ``deltas`` take the units off on-hand (reason ``fulfilment``)."""

    type: Literal["order_collected"] = "order_collected"
    via: Literal["locker", "counter"]
    device_id: str = Field(max_length=64)


class OrderExpired(_OrderEvent):
    """Not collected (or not made ready) in time: reservation released, codes revoked, a
    locker compartment flagged for staff to empty. The hub refunds the original tenders."""

    type: Literal["order_expired"] = "order_expired"
    reason: str = Field(max_length=300)


class OrderReleased(_OrderEvent):
    """The hub withdrew the allocation (``order_cancel``): reservation released, codes revoked."""

    type: Literal["order_released"] = "order_released"
    reason: str = Field(max_length=300)


class PickupReminderDue(_OrderEvent):
    """Time to remind the customer (``reminder``), or to warn that the hold ends soon."""

    type: Literal["pickup_reminder_due"] = "pickup_reminder_due"
    kind: Literal["reminder", "expiring"]
    pickup_expires_at: Timestamp


class PickupCodeReissued(_OrderEvent):
    """Staff issued a new code and QR (lost code, lockout); the old ones no longer open."""

    type: Literal["pickup_code_reissued"] = "pickup_code_reissued"
    sealed_pickup: SealedBox
    reason: str = Field(max_length=300)


class LockerDoorOpened(EventBase):
    """Every door the store opened: which, for whom and why, and how the open was confirmed."""

    type: Literal["locker_door_opened"] = "locker_door_opened"
    compartment_id: str = Field(max_length=64)
    order_id: OrderId | None = None
    purpose: Literal["load", "pickup", "retrieval", "maintenance"]
    actor: str = Field(max_length=64)
    confirmed_by: Literal["reply", "status", "already_open", "unconfirmed"]


class StoreAlert(EventBase):
    """Something staff or HQ should look at (a lockout, a door left open, an empty load)."""

    type: Literal["store_alert"] = "store_alert"
    alert_id: ExternalId
    kind: str = Field(min_length=1, max_length=64)
    severity: Literal["info", "warning", "critical"] = "warning"
    subject: str = Field(default="", max_length=100)
    message: str = Field(max_length=1000)


class KioskOrderRequested(EventBase):
    """A kiosk's endless-aisle order taken while the hub was unreachable: the hub places it
    when this arrives (idempotent on its ``client_order_id``, like the online call)."""

    type: Literal["kiosk_order_requested"] = "kiosk_order_requested"
    request: OrderRequest


ORDER_EVENTS = (
    OrderAccepted,
    OrderRejected,
    OrderProgressed,
    OrderReady,
    OrderCollected,
    OrderExpired,
    OrderReleased,
    PickupReminderDue,
    PickupCodeReissued,
    LockerDoorOpened,
    StoreAlert,
    KioskOrderRequested,
)

#: Fields a receiver does not keep with the event: sealed, but only the notifier needs them.
SECRET_FIELDS: dict[str, set[str]] = {
    "order_accepted": {"sealed_pickup"},
    "pickup_code_reissued": {"sealed_pickup"},
}
