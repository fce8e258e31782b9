"""The hub's MQTT side: one session, one worker thread, acks and command sending.

Thin on purpose: ``Inbound`` decides what a message means; this module moves bytes. The MQTT
session's callbacks only enqueue; ONE worker thread takes from that queue, so per-store order
is the broker's order and no database work ever runs on paho's thread.

Command sending is go-back-N per online store: send pending commands from the store's cursor in
batches, keep at most ``max_inflight_commands`` unacknowledged, and when no ack progress arrives
for ``ack_timeout_s`` send again from acked + 1. A birth rewinds the cursor to what the store
says it has applied, so nothing lost with a dropped connection stays lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from cloud_hub import commands
from cloud_hub.db import READ_ONLY, Store, table
from cloud_hub.fanout import FanOut
from cloud_hub.inbound import Inbound, Reaction
from cloud_hub.settings import HubSettings
from storelink_contract.common import utcnow
from storelink_contract.envelope import HUB_SENDER, encode_batch
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
from storelink_contract.session import Ack, HubState, ResendRequest
from storelink_contract.topics import HUB_STATE, store_topic, up_filter

log = logging.getLogger(__name__)

_S = table(Store)

#: How often the worker looks for commands to send when nothing else wakes it.
SEND_INTERVAL_S = 0.05
#: The same resend request to the same store at most this often.
RESEND_MIN_INTERVAL_S = 1.0


@dataclass
class _Cursor:
    """Per-store send position: everything <= acked is applied; next_seq is sent next."""

    acked: int
    next_seq: int
    last_progress: float

    @property
    def in_flight(self) -> int:
        return self.next_seq - 1 - self.acked


class HubLink:
    """Connects the hub to the broker and runs the worker thread."""

    def __init__(
        self,
        settings: HubSettings,
        engine: Engine,
        inbound: Inbound,
        fan_out: FanOut,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._inbound = inbound
        self._fanout = fan_out
        self._clock = clock
        self._inbox: queue.Queue[SessionEvent] = queue.Queue()
        password = settings.broker_password
        config = BrokerConfig(
            url=settings.broker_url,
            client_id=settings.client_id,
            username=settings.broker_username,
            password=password.get_secret_value() if password is not None else None,
            protocol=settings.mqtt_protocol,
            ca_file=settings.broker_ca_file,
        )
        offline = HubState(online=False).model_dump_json().encode()
        self.session = MqttSession(
            config, self._inbox, [up_filter("#")], will=Will(HUB_STATE, offline, retain=True)
        )
        self._cursors: dict[str, _Cursor] = {}
        self._last_resend: dict[str, tuple[int, float]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hub-link", daemon=True)
        self._thread.start()
        self.session.start()

    def stop(self) -> None:
        """Stop the worker, then publish the hub's offline state and disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self.session.stop(publish_will_now=True)

    # -- worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self._settings.fanout_interval_s
        next_fanout = time.monotonic() + interval
        next_send = 0.0
        while not self._stopping.is_set():
            try:
                event: SessionEvent | None = self._inbox.get(timeout=SEND_INTERVAL_S)
            except queue.Empty:
                event = None
            send_now = False
            if event is not None:
                send_now = self._guarded(self._on_event, event)
            now = time.monotonic()
            if now >= next_fanout:
                next_fanout = now + interval
                self._guarded(self._flush_fanout)
                send_now = True
            if send_now or now >= next_send:
                next_send = now + SEND_INTERVAL_S
                self._guarded(self._send_commands)

    def _guarded(self, fn: Callable[..., bool | None], *args: object) -> bool:
        try:
            return bool(fn(*args))
        except Exception:  # the worker thread must outlive every bug and outage
            log.exception("hub link: %s failed", getattr(fn, "__name__", fn))
            return False

    def _on_event(self, event: SessionEvent) -> bool:
        if isinstance(event, Message):
            return self._on_message(event)
        if isinstance(event, Connected):
            self._on_connected()
            return True
        if isinstance(event, Disconnected):
            log.warning("hub link: broker connection lost (%s)", event.reason)
        return False

    def _on_connected(self) -> None:
        state = HubState(online=True, at=self._clock()).model_dump_json().encode()
        self.session.publish(HUB_STATE, state, retain=True)
        # Whatever was in flight may be lost with the old connection: go back to acked + 1.
        now = time.monotonic()
        for cursor in self._cursors.values():
            cursor.next_seq = cursor.acked + 1
            cursor.last_progress = now
        log.info("hub link: online on %s", self._settings.broker_url)

    def _on_message(self, msg: Message) -> bool:
        reaction = self._inbound.handle(msg.topic, msg.payload, self._clock())
        pause = 0.5
        while reaction.retry and not self._stopping.wait(pause):
            # Hold the stream (and its order) until the database is back.
            pause = min(pause * 2, 10.0)
            reaction = self._inbound.handle(msg.topic, msg.payload, self._clock())
        store_id = reaction.store_id
        if store_id is None:
            return False
        if reaction.rpc_response is not None:
            try:
                self.session.publish(
                    store_topic(store_id, "down", "rpc"),
                    reaction.rpc_response.model_dump_json().encode(),
                )
            except BrokerUnavailable as exc:  # the caller times out and answers offline
                log.debug("hub link: rpc answer to %s lost: %s", store_id, exc)
        if reaction.events_ack is not None:
            self._publish_control(store_id, Ack(stream="events", upto=reaction.events_ack))
        if reaction.events_resend_from is not None:
            self._request_resend(store_id, reaction.events_resend_from)
        return self._move_cursor(store_id, reaction)

    def _move_cursor(self, store_id: str, reaction: Reaction) -> bool:
        now = time.monotonic()
        if reaction.birth_applied_upto is not None:
            applied = reaction.birth_applied_upto
            self._cursors[store_id] = _Cursor(applied, applied + 1, now)
            return True
        if reaction.went_offline:
            self._cursors.pop(store_id, None)
            return False
        cursor = self._cursors.get(store_id)
        if cursor is None:
            return False
        if reaction.commands_acked_upto is not None and reaction.commands_acked_upto > cursor.acked:
            cursor.acked = reaction.commands_acked_upto
            cursor.next_seq = max(cursor.next_seq, cursor.acked + 1)
            cursor.last_progress = now
            return True
        if reaction.commands_resend_from is not None:
            cursor.next_seq = max(reaction.commands_resend_from, cursor.acked + 1)
            cursor.last_progress = now
            return True
        return False

    def _publish_control(self, store_id: str, control: Ack | ResendRequest) -> None:
        try:
            self.session.publish(
                store_topic(store_id, "down", "acks"), control.model_dump_json().encode()
            )
        except BrokerUnavailable as exc:
            # The store will send again after its own timeout and get the ack then.
            log.debug("hub link: could not send %s to %s: %s", control.kind, store_id, exc)

    def _request_resend(self, store_id: str, from_seq: int) -> None:
        now = time.monotonic()
        last = self._last_resend.get(store_id)
        if last is not None and last[0] == from_seq and now - last[1] < RESEND_MIN_INTERVAL_S:
            return
        self._last_resend[store_id] = (from_seq, now)
        log.info("store %s: gap in events, asking for a resend from %d", store_id, from_seq)
        self._publish_control(store_id, ResendRequest(stream="events", from_seq=from_seq))

    def _flush_fanout(self) -> None:
        self._fanout.flush(self._engine, self._clock())

    # -- command sending -----------------------------------------------------------------------

    def _send_commands(self) -> None:
        if not self.session.connected:
            return
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            streams = commands.online_streams(conn)
        now = time.monotonic()
        for store_id, last_seq in streams.items():
            cursor = self._cursor_for(store_id, now)
            if cursor.in_flight > 0 and now - cursor.last_progress > self._settings.ack_timeout_s:
                log.info(
                    "store %s: no command ack for %.0f s, sending again from %d",
                    store_id,
                    self._settings.ack_timeout_s,
                    cursor.acked + 1,
                )
                cursor.next_seq = cursor.acked + 1
                cursor.last_progress = now
            if last_seq >= cursor.next_seq and not self._send_to(store_id, cursor, now):
                return  # the broker went away; try again on the next pass

    def _cursor_for(self, store_id: str, now: float) -> _Cursor:
        cursor = self._cursors.get(store_id)
        if cursor is None:
            # Online in the database but no birth seen by this process yet (a hub restart):
            # start from what the store last acknowledged.
            with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                acked = conn.execute(
                    select(_S.c.commands_acked_upto).where(_S.c.store_id == store_id)
                ).scalar_one_or_none()
            cursor = _Cursor(int(acked or 0), int(acked or 0) + 1, now)
            self._cursors[store_id] = cursor
        return cursor

    def _send_to(self, store_id: str, cursor: _Cursor, now: float) -> bool:
        room = self._settings.max_inflight_commands - cursor.in_flight
        if room <= 0:
            return True
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            items = commands.pending(conn, store_id, cursor.next_seq - 1, room)
        if not items:
            return True
        topic = store_topic(store_id, "down", "commands")
        size = self._settings.command_batch_size
        was_idle = cursor.in_flight == 0
        start = 0
        while start < len(items):
            # Sequences in one batch must be contiguous; the outbox is, but do not assume it.
            end = start + 1
            while (
                end < len(items) and end - start < size and items[end].seq == items[end - 1].seq + 1
            ):
                end += 1
            run = items[start:end]
            payload = encode_batch(HUB_SENDER, "commands", run[0].seq, [c.payload for c in run])
            try:
                self.session.publish(topic, payload)
            except BrokerUnavailable as exc:
                log.debug("hub link: cannot send commands to %s: %s", store_id, exc)
                return False
            cursor.next_seq = run[-1].seq + 1
            start = end
        if was_idle:
            cursor.last_progress = now
        return True
