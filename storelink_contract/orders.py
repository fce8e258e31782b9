"""Value types of online orders that both sides speak: ids, fulfilment methods, pickup secrets.

Used by the order commands (``order_allocation``, ``order_cancel``) and the order events the
store reports back. The hub owns the order (customer, tenders, routing); the store owns what
happens to it on the shop floor (reservation, picking, locker, handover), so the wire carries
only what the other side needs to act on.

``PickupSecrets`` is the one secret that crosses the wire: the store issues the customer's
pickup code and QR token, keeps only keyed hashes of them, and sends them to the hub for the
customer sealed to the hub's public key (``sealing``), so no database on the way holds them
in the clear.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from storelink_contract.common import Frozen, Quantity, Sku

OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
AllocationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

#: ``ship_to_store``: picked at one store and sent to the customer's store (``store_id`` of the
#: order) for collection there: the endless aisle of a kiosk.
FulfilmentMethod = Literal[
    "store_pickup", "locker_pickup", "curbside", "ship_from_store", "ship_to_store"
]
FULFILMENT_METHODS: tuple[FulfilmentMethod, ...] = (
    "store_pickup",
    "locker_pickup",
    "curbside",
    "ship_from_store",
    "ship_to_store",
)
#: Methods where the customer collects in person with a code (the store that ships a
#: ship-to-store order issues none: the store the customer collects at does).
COLLECTED_METHODS = frozenset({"store_pickup", "locker_pickup", "curbside"})
#: Methods whose parcel leaves the store with a carrier.
SHIPPED_METHODS = frozenset({"ship_from_store", "ship_to_store"})

ParcelSize = Literal["S", "M", "L"]
PARCEL_SIZES: tuple[ParcelSize, ...] = ("S", "M", "L")

#: 8 digits: with 200 codes live and 100 wrong tries a day per kiosk, ~0.07 wrong doors a year
#: (FIELD-NOTES; NIST SP 800-63B 5.2.2 wants the rate limit as well, which the store applies).
PICKUP_CODE_PATTERN = r"^[0-9]{8}$"
#: ``SLP1:<store id>:<token>``; the token carries ~160 random bits, so a QR needs no rate limit
#: to be safe, and the store id lets a camera at the wrong store say so.
QR_PATTERN = r"^SLP1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{20,64}$"


class ShippingAddress(Frozen):
    """Where a home delivery goes (``ship_from_store``): what the store prints on the label."""

    line1: str = Field(min_length=1, max_length=100)
    line2: str | None = Field(default=None, max_length=100)
    postcode: str = Field(min_length=1, max_length=16)
    city: str = Field(min_length=1, max_length=60)
    #: ISO 3166-1 alpha-2
    country: str = Field(pattern=r"^[A-Z]{2}$")


class OrderLineItem(Frozen):
    """One line of an order as a store must pick it."""

    sku: Sku
    quantity: Quantity
    name: str = Field(default="", max_length=200)


class PickupSecrets(Frozen):
    """The customer's pickup code and QR text, in the clear: sent once, never stored."""

    code: Annotated[str, StringConstraints(pattern=PICKUP_CODE_PATTERN)]
    qr: Annotated[str, StringConstraints(pattern=QR_PATTERN)]


class PickupLocation(Frozen):
    """Where a ready order waits: a locker compartment or the pickup shelf at the counter."""

    kind: Literal["locker", "shelf"]
    location_id: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=100)
