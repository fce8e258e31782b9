"""The store's link to the hub: drains the outbox, applies commands, reports session state.

The only module of the agent that touches MQTT (through ``storelink_contract.mqtt``). One worker
thread does all the work; the MQTT callbacks and database commits only drop a note in its queue,
so nothing here calls back into paho while holding a lock of ours.

Sending: events go out in batches of up to ``batch_size`` from the next unsent sequence, with at
most ``max_in_flight`` unacknowledged. Nothing leaves the outbox before the hub's ack (a PUBACK
is one hop and proves nothing). After a reconnect, a hub restart, a resend request, or
``ack_timeout_s`` without progress, sending restarts from the last acked sequence (go-back-N):
the hub drops what it already applied, so resending is always safe. Bulk sending waits until the
hub's retained state says it is online.

Requests that need an answer now (a purchase lookup for a return, a kiosk's endless-aisle
order) go through ``call``: a request on ``up/rpc`` with a deadline, answered on ``down/rpc``.
The caller's thread waits for the answer up to the deadline; ``HubUnreachable`` tells it to
give its offline answer instead. Nothing of a call is queued: a late answer is worth nothing.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from edge_agent import __version__, commands, outbox
from edge_agent.clock import iso
from edge_agent.db import StoreDB
from edge_agent.errors import HubRefused, HubUnreachable
from edge_agent.policy import FulfilmentPolicy
from edge_agent.settings import AgentSettings
from storelink_contract.common import utcnow
from storelink_contract.envelope import (
    HUB_SENDER,
    MalformedMessage,
    decode_batch,
    encode_batch,
)
from storelink_contract.mqtt import (
    BrokerConfig,
    BrokerUnavailable,
    Connected,
    Disconnected,
    Message,
    MqttSession,
    SessionEvent,
    Will,
)
from storelink_contract.rpc import RPC_RESPONSE, Method, RpcRequest, RpcResponse
from storelink_contract.session import (
    CONTROL,
    HUB_STATE,
    Ack,
    DeviceHealth,
    ResendRequest,
    StoreState,
)
from storelink_contract.topics import HUB_STATE as HUB_STATE_TOPIC
from storelink_contract.topics import store_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Wake:
    """New rows were committed to the outbox."""


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    connected: bool
    protocol: str
    hub_online: bool
    events_acked_upto: int
    next_seq: int
    backlog: int
    oldest_unsent_age_s: float


class Uplink:
    """Syncs one store with the hub; start() once, stop() at shutdown."""

    def __init__(
        self,
        settings: AgentSettings,
        db: StoreDB,
        bdseq: int,
        device_health: Callable[[], tuple[DeviceHealth, ...]] = tuple,
    ) -> None:
        self._settings = settings
        self._store_id = settings.store_id
        self._db = db
        self._bdseq = bdseq
        self._device_health = device_health
        self._policy = FulfilmentPolicy.from_settings(settings)
        self._events_topic = store_topic(self._store_id, "up", "events")
        self._acks_up = store_topic(self._store_id, "up", "acks")
        self._state_topic = store_topic(self._store_id, "up", "state")
        self._commands_topic = store_topic(self._store_id, "down", "commands")
        self._acks_down = store_topic(self._store_id, "down", "acks")
        self._rpc_up = store_topic(self._store_id, "up", "rpc")
        self._rpc_down = store_topic(self._store_id, "down", "rpc")
        self._calls: dict[str, Future[RpcResponse]] = {}
        self._calls_lock = threading.Lock()
        self._inbox: queue.Queue[SessionEvent | _Wake] = queue.Queue()
        death = StoreState(kind="death", store_id=self._store_id, bdseq=bdseq)
        self._session = MqttSession(
            BrokerConfig(
                url=settings.broker_url,
                client_id=f"storelink-store-{self._store_id}",
                username=settings.broker_username or self._store_id,
                password=(
                    settings.broker_password.get_secret_value()
                    if settings.broker_password
                    else None
                ),
                protocol=settings.mqtt_protocol,
                ca_file=settings.broker_ca_file,
            ),
            self._inbox,
            [self._commands_topic, self._acks_down, self._rpc_down, HUB_STATE_TOPIC],
            Will(self._state_topic, death.model_dump_json().encode(), retain=True),
        )
        with db.write() as conn:
            self._acked = outbox.position(conn, outbox.EVENTS_ACKED)
            self._epoch = outbox.stream_epoch(conn)
        self._next_seq = self._acked + 1
        self._hub_online = False
        self._last_progress = time.monotonic()
        self._wake_pending = False
        self._conflict_logged = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        db.on_commit(self._notify_commit)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._session.start()
        self._thread.start()

    def stop(self) -> None:
        """Say goodbye (retained death), then disconnect; the outbox keeps what is unsent."""
        self._stopping.set()
        self._inbox.put(_Wake())
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._session.stop(publish_will_now=True)

    def status(self) -> UplinkStatus:
        backlog = outbox.backlog(self._db.read())
        return UplinkStatus(
            connected=self._session.connected,
            protocol=self._session.protocol_name,
            hub_online=self._hub_online,
            events_acked_upto=self._acked,
            next_seq=self._next_seq,
            backlog=backlog.depth,
            oldest_unsent_age_s=backlog.oldest_age_s,
        )

    def publish_status(self) -> None:
        """Retained status update (backlog, device health); called by a scheduled job."""
        if self._session.connected:
            self._publish_state("status")

    # -- the worker ----------------------------------------------------------------------------

    def _notify_commit(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self._inbox.put(_Wake())

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                item = self._inbox.get(timeout=0.5)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    self._handle(item)
                self._check_ack_timeout()
                self._pump()
            except Exception:  # the link must outlive any one bad message or DB hiccup
                log.exception("uplink worker error; continuing")

    def _handle(self, item: SessionEvent | _Wake) -> None:
        match item:
            case _Wake():
                self._wake_pending = False
            case Connected():
                self._next_seq = self._acked + 1
                self._publish_state("birth")
            case Disconnected():
                log.info("uplink disconnected: %s", item.reason)
            case Message(topic=topic, payload=payload):
                if topic == self._acks_down:
                    self._on_control(payload)
                elif topic == self._commands_topic:
                    self._on_commands(payload)
                elif topic == HUB_STATE_TOPIC:
                    self._on_hub_state(payload)
                elif topic == self._rpc_down:
                    self._on_rpc_response(payload)

    # -- requests to the hub ---------------------------------------------------------------------

    def call(self, method: Method, params: BaseModel, timeout_s: float) -> dict[str, Any]:
        """Ask the hub and wait up to ``timeout_s`` for the answer (any thread).

        ``HubUnreachable``: no broker, hub offline or no answer in time (use the offline
        answer); ``HubRefused``: the hub answered with a refusal (its reason is the message).
        """
        if not (self._session.connected and self._hub_online):
            raise HubUnreachable("the hub is not reachable")
        request = RpcRequest(
            id=secrets.token_hex(8),
            method=method,
            deadline=utcnow() + timedelta(seconds=timeout_s),
            params=params.model_dump(mode="json"),
        )
        answer: Future[RpcResponse] = Future()
        with self._calls_lock:
            self._calls[request.id] = answer
        try:
            self._session.publish(self._rpc_up, request.model_dump_json().encode())
            response = answer.result(timeout=timeout_s)
        except BrokerUnavailable as exc:
            raise HubUnreachable(f"the hub is not reachable: {exc}") from exc
        except FutureTimeout:
            raise HubUnreachable(f"the hub did not answer within {timeout_s:g} s") from None
        finally:
            with self._calls_lock:
                self._calls.pop(request.id, None)
        if not response.ok:
            raise HubRefused(response.error or "the hub refused")
        return response.result or {}

    def _on_rpc_response(self, payload: bytes) -> None:
        try:
            response = RPC_RESPONSE.validate_json(payload)
        except ValidationError:
            log.warning("ignored a malformed rpc answer from the hub: %r", payload[:200])
            return
        with self._calls_lock:
            waiting = self._calls.get(response.id)
        if waiting is not None and not waiting.done():
            waiting.set_result(response)

    def _pump(self) -> None:
        """Send unsent events while the hub is online and the in-flight window has room."""
        if not (self._session.connected and self._hub_online):
            return
        settings = self._settings
        conn = self._db.read()
        while (in_flight := self._next_seq - 1 - self._acked) < settings.max_in_flight:
            limit = min(settings.batch_size, settings.max_in_flight - in_flight)
            rows = outbox.read_from(conn, self._next_seq, limit)
            if not rows:
                return
            payload = encode_batch(
                self._store_id, "events", rows[0][0], [p for _, p in rows], self._epoch
            )
            try:
                self._session.publish(self._events_topic, payload)
            except BrokerUnavailable:
                return
            if in_flight == 0:
                self._last_progress = time.monotonic()
            self._next_seq = rows[-1][0] + 1

    def _check_ack_timeout(self) -> None:
        if not self._inbox.empty():
            # The ack may be right there, unread: a busy worker is not a silent hub.
            return
        in_flight = self._next_seq - 1 - self._acked
        stalled = time.monotonic() - self._last_progress > self._settings.ack_timeout_s
        if in_flight > 0 and stalled:
            log.warning(
                "no ack for %d events in flight; resending from %d", in_flight, self._acked + 1
            )
            self._next_seq = self._acked + 1
            self._last_progress = time.monotonic()

    def _on_control(self, payload: bytes) -> None:
        try:
            control = CONTROL.validate_json(payload)
        except ValidationError as exc:
            log.warning("ignored malformed control message from the hub: %s", exc.errors()[:1])
            return
        if control.stream != "events":
            return
        match control:
            case Ack(upto=upto):
                self._acknowledge(upto)
            case ResendRequest(from_seq=from_seq):
                self._acknowledge(from_seq - 1)
                if from_seq - 1 < self._acked:
                    log.error(
                        "hub asks again from %d but acknowledged up to %d before: "
                        "the hub lost data; a resync is needed",
                        from_seq,
                        self._acked,
                    )
                self._next_seq = self._acked + 1

    def _acknowledge(self, upto: int) -> None:
        if upto > self._acked and upto > outbox.last_assigned(self._db.read()):
            # The hub acknowledges sequences this store never assigned: it knows another
            # stream under our id (this database was wiped or restored). Deleting on that ack
            # would drop unsynced sales; keep everything and let the operator rebase.
            if not self._conflict_logged:
                log.error(
                    "hub acknowledged up to %d but this store has assigned only up to %d: "
                    "keeping every event; see 'storelink-agent stream rebase'",
                    upto,
                    outbox.last_assigned(self._db.read()),
                )
                self._conflict_logged = True
            return
        if upto > self._acked:
            with self._db.write() as conn:
                outbox.acknowledge(conn, upto)
            self._acked = upto
            self._last_progress = time.monotonic()
        self._next_seq = max(self._next_seq, self._acked + 1)

    def _on_commands(self, payload: bytes) -> None:
        try:
            batch = decode_batch(payload)
            if batch.sender != HUB_SENDER or batch.stream != "commands":
                raise MalformedMessage(f"commands from {batch.sender!r} on stream {batch.stream}")
        except MalformedMessage as exc:
            self._quarantine_message(str(exc), payload)
            return
        with self._db.write() as conn:
            outcome = commands.apply_batch(conn, batch, utcnow(), self._policy)
        if outcome.resend_from is not None:
            reply: Ack | ResendRequest = ResendRequest(
                stream="commands", from_seq=outcome.resend_from
            )
        else:
            reply = Ack(stream="commands", upto=outcome.ack_upto)
        self._try_publish(self._acks_up, reply.model_dump_json().encode())

    def _on_hub_state(self, payload: bytes) -> None:
        try:
            online = HUB_STATE.validate_json(payload).online
        except ValidationError:
            log.warning("ignored malformed hub state %r", payload[:200])
            return
        if online and not self._hub_online:
            log.info("hub is online; sending from sequence %d", self._acked + 1)
            self._next_seq = self._acked + 1
            # Rebirth (Sparkplug): a hub that restarted may have missed our birth.
            self._hub_online = online
            self._publish_state("birth")
        self._hub_online = online

    def _publish_state(self, kind: str) -> None:
        conn = self._db.read()
        backlog = outbox.backlog(conn)
        state = StoreState(
            kind="birth" if kind == "birth" else "status",
            store_id=self._store_id,
            bdseq=self._bdseq,
            at=datetime.now(UTC),
            version=__version__,
            backlog=backlog.depth,
            oldest_unsent_age_s=round(backlog.oldest_age_s, 3),
            events_acked_upto=self._acked,
            commands_applied_upto=outbox.position(conn, outbox.COMMANDS_APPLIED),
            devices=self._device_health(),
        )
        self._try_publish(self._state_topic, state.model_dump_json().encode(), retain=True)

    def _try_publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        try:
            self._session.publish(topic, payload, retain=retain)
        except BrokerUnavailable as exc:
            log.debug("not published to %s: %s", topic, exc)

    def _quarantine_message(self, reason: str, payload: bytes) -> None:
        log.warning("quarantined a message from the hub: %s", reason)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO command_quarantine (seq, reason, payload, received_at) "
                "VALUES (NULL, ?, ?, ?)",
                (reason, payload[:100_000].decode(errors="replace"), iso(utcnow())),
            )
