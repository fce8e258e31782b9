"""What one MQTT message from a store does: decode, check who sent it, apply, say what to answer.

Kept apart from ``link`` so the rules are testable without a broker: the link hands over
(topic, payload) and gets back a ``Reaction`` telling it what to publish and how to move its
command send cursors. Every failure ends in the quarantine with the reason; nothing here raises
to the caller for a bad message.

The topic is the authority on who is speaking (the broker's ACL ties it to the store's login).
A payload that claims another store, by envelope ``sender`` or state ``store_id``, is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from cloud_hub import commands, directory, fanout, fleet, quarantine, recovery, reseed, rpc
from cloud_hub.ingest import IngestResult, apply_event_batch
from cloud_hub.orders.rules import OrderRules
from storelink_contract.commands import ResyncRequest
from storelink_contract.envelope import (
    Batch,
    MalformedMessage,
    decode_batch,
    describe_validation_error,
)
from storelink_contract.events import EventBatch
from storelink_contract.order_events import SECRET_FIELDS
from storelink_contract.rpc import RPC_REQUEST, RpcResponse
from storelink_contract.session import CONTROL, STORE_STATE, Ack
from storelink_contract.topics import parse_store_topic

log = logging.getLogger(__name__)


@dataclass
class Reaction:
    """What the link should do after a message; all fields optional."""

    store_id: str | None = None
    #: Publish ``Ack(stream="events", upto=...)`` on the store's down/acks.
    events_ack: int | None = None
    #: Publish ``ResendRequest(stream="events", from_seq=...)`` (the link rate-limits it).
    events_resend_from: int | None = None
    commands_acked_upto: int | None = None
    commands_resend_from: int | None = None
    #: A birth: rewind the store's command cursor to this + 1.
    birth_applied_upto: int | None = None
    went_offline: bool = False
    quarantined: str | None = None
    ingest: IngestResult | None = None
    #: The database was unreachable: handle the same message again after a pause.
    retry: bool = False
    #: Publish this on the store's down/rpc.
    rpc_response: RpcResponse | None = None


class Inbound:
    """Applies store messages to the hub database; one instance per hub process."""

    def __init__(
        self,
        engine: Engine,
        fan_out: fanout.FanOut,
        rules: OrderRules | None = None,
    ) -> None:
        self._engine = engine
        self._fanout = fan_out
        self._rules = rules or OrderRules()

    def handle(self, topic: str, payload: bytes, now: datetime) -> Reaction:
        parsed = parse_store_topic(topic)
        if parsed is None or parsed.direction != "up":
            return self._quarantine(None, topic, payload, "not a store up/ topic", now)
        store_id = parsed.store_id
        try:
            if parsed.channel == "events":
                return self._events(store_id, topic, payload, now)
            if parsed.channel == "acks":
                return self._acks(store_id, topic, payload, now)
            if parsed.channel == "state":
                return self._state(store_id, topic, payload, now)
            if parsed.channel == "rpc":
                return self._rpc(store_id, topic, payload, now)
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable: no fault of the message. Quarantining it would lose
            # births and deaths (never resent) and fill the quarantine with resends; the link
            # retries the same message once the database answers again.
            log.warning("store %s: database unavailable (%s); will retry", store_id, exc.orig)
            return Reaction(store_id=store_id, retry=True)
        except Exception as exc:  # a hub bug must not kill the worker
            log.exception("store %s: failed to handle a message on %s", store_id, topic)
            return self._quarantine(store_id, topic, payload, f"hub failed to apply: {exc}", now)
        return self._quarantine(
            store_id, topic, payload, f"channel {parsed.channel!r} is not served by the hub", now
        )

    # -- channels ------------------------------------------------------------------------------

    def _events(self, store_id: str, topic: str, payload: bytes, now: datetime) -> Reaction:
        batch: Batch | EventBatch
        try:
            # Almost every batch is clean: one Rust pass from bytes to typed events.
            batch = EventBatch.model_validate_json(payload)
        except ValidationError:
            try:
                batch = decode_batch(payload)
            except MalformedMessage as exc:
                return self._quarantine(store_id, topic, payload, str(exc), now)
        if batch.sender != store_id:
            return self._quarantine(store_id, topic, payload, _claims(batch.sender, store_id), now)
        if batch.stream != "events":
            reason = f"a {batch.stream!r} batch on the events topic"
            return self._quarantine(store_id, topic, payload, reason, now)
        newly_flagged = False
        with self._engine.begin() as conn:
            result = apply_event_batch(conn, store_id, batch, now, self._rules)
            if result.conflict is not None:
                newly_flagged = fleet.flag_stream_conflict(
                    conn, store_id, result.conflict, result.conflict_epoch
                )
            elif result.resync_reason is not None and not commands.has_pending_of_type(
                conn, store_id, "resync_request"
            ):
                # One outstanding request is enough: later digests before the snapshot arrives
                # will disagree too.
                request = ResyncRequest(at=now, reason=result.resync_reason[:200])
                commands.enqueue(conn, [store_id], request, now)
        if result.conflict is not None:
            # Quarantined once (the store resends on every ack timeout); no ack either way.
            if newly_flagged:
                log.error("store %s: %s", store_id, result.conflict)
                return self._quarantine(store_id, topic, payload, result.conflict, now)
            return Reaction(store_id=store_id, ingest=result)
        if result.changed_skus:
            self._fanout.note(store_id, result.changed_skus)
        return Reaction(
            store_id=store_id,
            events_ack=result.ack_upto,
            events_resend_from=result.resend_from,
            ingest=result,
        )

    def _acks(self, store_id: str, topic: str, payload: bytes, now: datetime) -> Reaction:
        try:
            control = CONTROL.validate_json(payload)
        except ValidationError as exc:
            reason = f"bad ack: {describe_validation_error(exc)}"
            return self._quarantine(store_id, topic, payload, reason, now)
        if control.stream != "commands":
            reason = "a store may only ack or request the hub's commands stream"
            return self._quarantine(store_id, topic, payload, reason, now)
        with self._engine.begin() as conn:
            fleet.touch(conn, store_id, now)
            if isinstance(control, Ack):
                acked = commands.acknowledge(conn, store_id, control.upto)
                return Reaction(store_id=store_id, commands_acked_upto=acked)
        return Reaction(store_id=store_id, commands_resend_from=control.from_seq)

    def _state(self, store_id: str, topic: str, payload: bytes, now: datetime) -> Reaction:
        if not payload:
            return Reaction(store_id=store_id)  # a cleared retained message
        try:
            state = STORE_STATE.validate_json(payload)
        except ValidationError as exc:
            reason = f"bad state: {describe_validation_error(exc)}"
            return self._quarantine(store_id, topic, payload, reason, now)
        if state.store_id != store_id:
            return self._quarantine(
                store_id, topic, payload, _claims(state.store_id, store_id), now
            )
        with self._engine.begin() as conn:
            outcome = fleet.apply_state(conn, state, now)
            if outcome.kind == "birth":
                recovery.reconcile_birth(conn, state, now)
                commands.acknowledge(conn, store_id, outcome.commands_applied_upto)
                if outcome.commands_applied_upto == 0:
                    reseed.reseed_store(conn, store_id, now)  # new, or its database was wiped
                fanout.enqueue_full_view(conn, store_id, now, self._fanout.nearby_stores)
                directory.send(conn, now, [store_id])
        if outcome.kind == "birth":
            log.info("store %s: birth (bdseq %d, %s)", store_id, state.bdseq, state.version)
            return Reaction(store_id=store_id, birth_applied_upto=outcome.commands_applied_upto)
        if outcome.kind == "death" and outcome.applied:
            log.info("store %s: death (bdseq %d)", store_id, state.bdseq)
            return Reaction(store_id=store_id, went_offline=True)
        return Reaction(store_id=store_id)

    def _rpc(self, store_id: str, topic: str, payload: bytes, now: datetime) -> Reaction:
        try:
            request = RPC_REQUEST.validate_json(payload)
        except ValidationError as exc:
            reason = f"bad rpc request: {describe_validation_error(exc)}"
            return self._quarantine(store_id, topic, payload, reason, now)
        with self._engine.begin() as conn:
            fleet.touch(conn, store_id, now)
        response = rpc.answer(self._engine, store_id, request, now, self._rules)
        return Reaction(store_id=store_id, rpc_response=response)

    # -- helpers -------------------------------------------------------------------------------

    def _quarantine(
        self, store_id: str | None, topic: str, payload: bytes, reason: str, now: datetime
    ) -> Reaction:
        log.warning("quarantined a message on %s: %s", topic, reason)
        try:
            with self._engine.begin() as conn:
                quarantine.record(
                    conn,
                    store_id=store_id,
                    topic=topic,
                    seq=None,
                    reason=reason,
                    payload=_redacted(payload),
                    now=now,
                )
        except Exception:  # the database itself is failing; the log line above must do
            log.exception("could not write the quarantine entry for %s", topic)
        return Reaction(store_id=store_id, quarantined=reason)


def _redacted(payload: bytes) -> bytes:
    """The payload without the customer secrets its events may carry (pickup codes), when it
    is readable JSON at all; a quarantine is for diagnosis, not a copy of the codes."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return payload
    items = message.get("items") if isinstance(message, dict) else None
    if not isinstance(items, list):
        return payload
    for item in items:
        if isinstance(item, dict):
            for key in SECRET_FIELDS.get(str(item.get("type")), ()):
                if key in item:
                    item[key] = "<redacted>"
    return json.dumps(message).encode()


def _claims(claimed: str, store_id: str) -> str:
    return f"payload claims store {claimed!r} on store {store_id!r}'s topic"
