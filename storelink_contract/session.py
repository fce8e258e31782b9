"""Acks, resend requests and Sparkplug-style session state.

Acks travel on ``up/acks`` (store acks the hub's commands) and ``down/acks`` (hub acks the
store's events). ``upto`` is the highest contiguous sequence the receiver has durably applied:
only then may the sender delete from its outbox. A PUBACK is only one hop and proves nothing.

Session state is retained on ``up/state``: a ``birth`` on every connect, ``status`` updates while
connected, and the will is the matching ``death``. ``bdseq`` increases with every connection, so
the hub ignores a stale death that arrives after a newer birth.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from storelink_contract.common import Frozen, StoreId, Timestamp
from storelink_contract.envelope import Stream


class Ack(Frozen):
    v: Literal[1] = 1
    kind: Literal["ack"] = "ack"
    stream: Stream
    upto: int = Field(ge=0)


class ResendRequest(Frozen):
    """Sent on a gap: 'I have applied up to from_seq - 1; send again from from_seq'."""

    v: Literal[1] = 1
    kind: Literal["resend"] = "resend"
    stream: Stream
    from_seq: int = Field(ge=1)


Control = Annotated[Ack | ResendRequest, Field(discriminator="kind")]
CONTROL: TypeAdapter[Control] = TypeAdapter(Control)


class DeviceHealth(Frozen):
    device_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    connected: bool
    last_frame_at: Timestamp | None = None
    errors: int = Field(default=0, ge=0)


class StoreState(Frozen):
    """Birth, status update or death of a store's session."""

    v: Literal[1] = 1
    kind: Literal["birth", "status", "death"]
    store_id: StoreId
    bdseq: int = Field(ge=0)
    at: Timestamp | None = None
    version: str = Field(default="", max_length=32)
    backlog: int = Field(default=0, ge=0)
    oldest_unsent_age_s: float = Field(default=0.0, ge=0)
    events_acked_upto: int = Field(default=0, ge=0)
    commands_applied_upto: int = Field(default=0, ge=0)
    devices: tuple[DeviceHealth, ...] = ()


class HubState(Frozen):
    """The hub's retained online/offline flag; agents hold back bulk replay while offline."""

    v: Literal[1] = 1
    online: bool
    at: Timestamp | None = None


STORE_STATE: TypeAdapter[StoreState] = TypeAdapter(StoreState)
HUB_STATE: TypeAdapter[HubState] = TypeAdapter(HubState)
