"""The one place paho-mqtt is driven, shared by the store uplink and the hub.

Why not paho's own loop: its reconnect backoff has no jitter (a fleet reconnects in lockstep
after an outage), it never sets TCP_NODELAY (every request/response then waits ~40 ms for a
delayed ACK), and calling back into the client from its callbacks has deadlocked users. So this
session runs its own thread: connect, fall back from MQTT 5 to 3.1.1 when the broker refuses
level 5 (amqtt does), set TCP_NODELAY, and hand every message and connection change to the
owner's queue. The owner's thread does the work; callbacks here only enqueue.

Durability does not live here: paho's session is in memory only. ``publish`` refuses while
disconnected instead of letting paho queue (a retry of a queued QoS 1 publish sends it twice);
the owners' outboxes and application-level acks carry the guarantees.

Errors are translated here: paho return codes become ``BrokerUnavailable``.
"""

from __future__ import annotations

import logging
import queue
import random
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

Protocol = Literal["auto", "5", "3.1.1"]


class BrokerUnavailable(RuntimeError):
    """The broker cannot take a message now; the caller keeps it in its outbox."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where and how to connect. ``url`` is ``mqtt://host:port`` or ``mqtts://host:port``."""

    url: str
    client_id: str
    username: str | None = None
    password: str | None = None
    protocol: Protocol = "auto"
    ca_file: str | None = None
    keepalive_s: int = 30
    backoff_min_s: float = 0.5
    backoff_max_s: float = 60.0

    @property
    def host_port_tls(self) -> tuple[str, int, bool]:
        """Host, port and whether TLS is on, from the URL (credentials in the URL allowed)."""
        parts = urlsplit(self.url)
        shown = parts._replace(netloc=parts.hostname or "").geturl()  # never log a password
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker URL {shown!r}: scheme must be mqtt:// or mqtts://")
        tls = parts.scheme in ("mqtts", "ssl")
        if not parts.hostname:
            raise ValueError(f"broker URL {shown!r} has no host")
        return parts.hostname, parts.port or (8883 if tls else 1883), tls

    def credentials(self) -> tuple[str | None, str | None]:
        """Username and password: explicit settings win over ones embedded in the URL."""
        parts = urlsplit(self.url)
        user = self.username or (unquote(parts.username) if parts.username else None)
        password = self.password or (unquote(parts.password) if parts.password else None)
        return user, password


@dataclass(frozen=True, slots=True)
class Connected:
    """The session is up and subscribed; ``protocol`` is what the broker accepted."""

    protocol: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


SessionEvent = Connected | Disconnected | Message


@dataclass
class _Counters:
    published: int = 0
    refused_by_broker: int = 0
    received: int = 0
    connects: int = 0
    last_refusal: str = field(default="")


class MqttSession:
    """A reconnecting MQTT connection that reports to ``inbox`` and never blocks its caller.

    ``inbox`` receives ``SessionEvent`` items; the owner may put its own notes in it too.
    """

    def __init__(
        self,
        config: BrokerConfig,
        inbox: queue.Queue[Any],
        subscriptions: list[str],
        will: Will | None = None,
    ) -> None:
        self._config = config
        self._inbox = inbox
        self._subscriptions = subscriptions
        self._will = will
        self._protocol: int = paho.MQTTv311 if config.protocol == "3.1.1" else paho.MQTTv5
        self._client = self._make_client()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = _Counters()
        self._down_logged = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{self._config.client_id}", daemon=True
        )
        self._thread.start()

    def stop(self, *, publish_will_now: bool = False) -> None:
        """Disconnect cleanly. A clean disconnect suppresses the will, so the owner publishes
        its own offline state first when it wants one (``publish_will_now``)."""
        if publish_will_now and self._will is not None and self.connected:
            info = self._client.publish(
                self._will.topic, self._will.payload, qos=1, retain=self._will.retain
            )
            if info.rc == paho.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout=2.0)
        self._stopping.set()
        self._client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        _close_wakeup_sockets(self._client)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def protocol_name(self) -> str:
        return "5" if self._protocol == paho.MQTTv5 else "3.1.1"

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Hand one message to the broker, or raise ``BrokerUnavailable`` (nothing queued)."""
        if not self._connected.is_set():
            raise BrokerUnavailable("not connected to the broker")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.counters.published += 1
            return
        if info.rc == paho.MQTT_ERR_NO_CONN:
            # paho has queued it and will send it after reconnecting; receivers are idempotent,
            # so that is harmless, but the caller must not count on it either.
            raise BrokerUnavailable("connection lost while publishing")
        raise BrokerUnavailable(f"publish refused: {paho.error_string(info.rc)}")

    # -- internals -----------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        cfg = self._config
        kwargs: dict[str, Any] = {"client_id": cfg.client_id, "protocol": self._protocol}
        if self._protocol != paho.MQTTv5:
            kwargs["clean_session"] = True
        client = paho.Client(CallbackAPIVersion.VERSION2, **kwargs)
        user, password = cfg.credentials()
        if user is not None:
            client.username_pw_set(user, password)
        _, _, tls = cfg.host_port_tls
        if tls:
            client.tls_set(ca_certs=cfg.ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if self._will is not None:
            client.will_set(self._will.topic, self._will.payload, qos=1, retain=self._will.retain)
        client.enable_logger(logging.getLogger("paho"))
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _run(self) -> None:
        host, port, _ = self._config.host_port_tls
        delay = self._config.backoff_min_s
        while not self._stopping.is_set():
            try:
                if self.counters.connects == 0 and not self._client.is_connected():
                    self._client.connect(host, port, self._config.keepalive_s)
                else:
                    self._client.reconnect()
            except (OSError, ValueError) as exc:
                self._note_down(f"cannot reach broker {host}:{port}: {exc}")
                self._sleep_backoff(delay)
                delay = min(delay * 2, self._config.backoff_max_s)
                continue
            self.counters.connects += 1
            self._connack_seen = False
            rc = paho.MQTT_ERR_SUCCESS
            was_connected = False
            while not self._stopping.is_set() and rc == paho.MQTT_ERR_SUCCESS:
                rc = self._client.loop(timeout=0.2)
                was_connected = was_connected or self._connected.is_set()
            if self._stopping.is_set():
                self._connected.clear()
                break
            if was_connected:
                delay = self._config.backoff_min_s  # it was up: start the backoff afresh
            elif (
                not self._connack_seen
                and self._config.protocol == "auto"
                and self._protocol == paho.MQTTv5
            ):
                # Closed before any CONNACK: amqtt does that to a level-5 CONNECT with a will.
                log.info("broker closed an MQTT 5 connection unanswered; trying MQTT 3.1.1")
                self._fallback_pending = True
            self._mark_down(f"connection lost ({paho.error_string(rc)})")
            if self._fallback_pending:
                self._fallback_pending = False
                self._protocol = paho.MQTTv311
                _close_wakeup_sockets(self._client)
                self._client = self._make_client()
                self.counters.connects = 0
                continue
            self._sleep_backoff(delay)
            delay = min(delay * 2, self._config.backoff_max_s)

    _fallback_pending = False
    _connack_seen = False

    def _sleep_backoff(self, delay: float) -> None:
        # Full jitter: a fleet that lost the broker together does not come back together.
        self._stopping.wait(random.uniform(delay / 2, delay))

    def _note_down(self, reason: str) -> None:
        if not self._down_logged and not self._stopping.is_set():
            log.warning("MQTT %s: %s (retrying with backoff)", self._config.client_id, reason)
            self._down_logged = True

    def _mark_down(self, reason: str) -> None:
        was_up = self._connected.is_set()
        self._connected.clear()
        if was_up:
            self._inbox.put(Disconnected(reason))
        self._note_down(reason)

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _props: Properties | None = None,
    ) -> None:
        self._connack_seen = True  # answered, even if refused: not a protocol problem
        if reason.is_failure:
            if (
                self._config.protocol == "auto"
                and self._protocol == paho.MQTTv5
                and reason.getName() == "Unsupported protocol version"
            ):
                log.info("broker refuses MQTT 5; falling back to MQTT 3.1.1")
                self._fallback_pending = True
            else:
                self._note_down(f"broker refused the connection: {reason.getName()}")
            client.disconnect()
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._down_logged = False
        log.info("MQTT %s connected (protocol %s)", self._config.client_id, self.protocol_name)
        self._connected.set()
        self._inbox.put(Connected(self.protocol_name))

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _props: Properties | None = None,
    ) -> None:
        self._mark_down(f"disconnected: {reason.getName()}")

    def _on_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        self.counters.received += 1
        self._inbox.put(Message(msg.topic, bytes(msg.payload)))

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: object,
        _mid: int,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        # Under MQTT 5 an ACL refusal still arrives as a PUBACK, with reason 0x87. Under 3.1.1
        # it looks like success; the application-level ack is what tells the truth.
        if reason.is_failure:
            self.counters.refused_by_broker += 1
            self.counters.last_refusal = reason.getName()
            log.error("broker refused a publish: %s", reason.getName())


def _close_wakeup_sockets(client: paho.Client) -> None:
    """Close paho's internal socket pair now rather than in ``__del__`` (paho issue #627).

    Our callbacks make a reference cycle, so ``__del__`` runs at some later garbage collection,
    far from the client's owner, and leaks the sockets until then (a ResourceWarning in tests).
    """
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()
