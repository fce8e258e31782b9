"""Topic names under ``storelink/v1/`` and the store-id rule that keeps ACL patterns safe.

A store publishes only under ``stores/{id}/up/#`` and reads only ``stores/{id}/down/#`` plus the
hub's retained state. Store ids are validated strictly because Mosquitto substitutes the
username into ACL patterns: an id containing ``/`` or ``+`` could climb into another prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ROOT = "storelink/v1"
HUB_STATE = f"{ROOT}/hub/state"

STORE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
_STORE_ID = re.compile(STORE_ID_PATTERN)

Direction = Literal["up", "down"]
Channel = Literal["events", "commands", "acks", "state", "rpc"]

_TOPIC = re.compile(r"^storelink/v1/stores/([A-Za-z0-9_-]{1,32})/(up|down)/([a-z]+)$")


class InvalidStoreId(ValueError):
    """A store id that could not be used safely in a topic or an ACL pattern."""


#: Names a store may not take: "hub" is the hub's broker identity (full access in the ACL).
RESERVED_IDS = frozenset({"hub"})


def check_store_id(store_id: str) -> str:
    """Return ``store_id`` unchanged, or raise ``InvalidStoreId`` saying why."""
    if not _STORE_ID.fullmatch(store_id):
        raise InvalidStoreId(
            f"store id {store_id!r} must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'"
        )
    if store_id.lower() in RESERVED_IDS:
        raise InvalidStoreId(f"store id {store_id!r} is reserved for the hub")
    return store_id


def store_topic(store_id: str, direction: Direction, channel: Channel) -> str:
    """``storelink/v1/stores/{store_id}/{direction}/{channel}``."""
    return f"{ROOT}/stores/{check_store_id(store_id)}/{direction}/{channel}"


def up_filter(channel: Channel | Literal["#"]) -> str:
    """The hub's subscription to one up channel of every store (``+`` for the store id)."""
    return f"{ROOT}/stores/+/up/{channel}"


@dataclass(frozen=True, slots=True)
class StoreTopic:
    """A parsed store topic."""

    store_id: str
    direction: Direction
    channel: str


def parse_store_topic(topic: str) -> StoreTopic | None:
    """Parse a store topic, or return None for anything that is not one."""
    match = _TOPIC.fullmatch(topic)
    if match is None:
        return None
    direction: Direction = "up" if match.group(2) == "up" else "down"
    return StoreTopic(match.group(1), direction, match.group(3))
