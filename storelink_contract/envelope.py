"""The batch envelope that carries many events (or commands) in one MQTT message.

Wire form (JSON)::

    {"v": 1, "sender": "store-001", "stream": "events", "first_seq": 41,
     "items": [{...event 41...}, {...event 42...}]}

``epoch`` names the sender's stream: a store database gets a random one when it is created and
a new one when its unsent events are rebased, so the hub can tell a restarted numbering (a wiped
or replaced database) from a resend. Optional for senders that predate it.

Item ``i`` has sequence ``first_seq + i``: sequences are contiguous inside a batch, so a
receiver can tell exactly which ones it has applied even when one item is malformed. Items are
kept as raw JSON here and validated one by one by the receiver, so one bad item is quarantined
alone instead of failing the batch. ``encode_batch`` joins items that the sender serialised once
at commit time, which keeps the outbox drain free of re-serialisation.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storelink_contract import SCHEMA_VERSION

Stream = Literal["events", "commands"]

HUB_SENDER = "hub"


class MalformedMessage(ValueError):
    """A payload that cannot be read as the message it claims to be; the text says why."""


class Batch(BaseModel):
    """A decoded envelope; ``items`` are still raw JSON objects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1]
    sender: str = Field(min_length=1, max_length=32)
    stream: Stream
    first_seq: int = Field(ge=1)
    epoch: str | None = Field(default=None, pattern=r"^[0-9a-f]{8,32}$")
    items: list[dict[str, Any]] = Field(min_length=1)

    @property
    def last_seq(self) -> int:
        """Sequence of the last item in the batch."""
        return self.first_seq + len(self.items) - 1


def encode_batch(
    sender: str, stream: Stream, first_seq: int, items_json: list[str], epoch: str | None = None
) -> bytes:
    """Build a batch from items that are already JSON object texts, contiguous from first_seq."""
    epoch_field = f'"epoch":"{epoch}",' if epoch else ""
    head = (
        f'{{"v":{SCHEMA_VERSION},"sender":{json.dumps(sender)},'
        f'"stream":"{stream}","first_seq":{first_seq},{epoch_field}"items":['
    )
    return (head + ",".join(items_json) + "]}").encode()


def decode_batch(payload: bytes) -> Batch:
    """Parse an envelope, or raise ``MalformedMessage`` with a reason fit for a quarantine."""
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from exc
    try:
        return Batch.model_validate(raw)
    except ValidationError as exc:
        raise MalformedMessage(f"bad batch envelope: {_first_errors(exc)}") from exc


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def describe_validation_error(exc: ValidationError) -> str:
    """A short, human-readable reason for a validation failure (first few errors)."""
    return _first_errors(exc)
