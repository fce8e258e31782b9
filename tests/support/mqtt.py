"""``MqttProbe``: a small synchronous paho client for tests that assert what a broker delivers.

It speaks the protocol the broker wants (``BrokerProcess.protocol``), waits for CONNACK, SUBACK
and PUBACK, and reports their reason codes, so a test can say "the broker acknowledged the
publish with 0x87" or "nothing arrived within 0.5 s" without hand-rolling paho callbacks.
Not for production code: the agent and the hub use ``storelink_contract.mqtt.MqttSession``.
"""

from __future__ import annotations

import itertools
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from storelink_demo.brokers import BrokerProcess

_ids = itertools.count(1)


class ProbeError(AssertionError):
    """The broker did not answer as a test expected (no CONNACK, refused CONNECT, ...)."""


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int


class MqttProbe:
    """One MQTT connection to a test broker. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        broker: BrokerProcess,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        protocol: str | None = None,
        will: tuple[str, bytes, bool] | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id or f"probe-{next(_ids)}"
        self.protocol = protocol or broker.protocol
        version = paho.MQTTv5 if self.protocol == "5" else paho.MQTTv311
        kwargs: dict[str, Any] = {"client_id": self.client_id, "protocol": version}
        if version != paho.MQTTv5:
            kwargs["clean_session"] = True
        self.client = paho.Client(CallbackAPIVersion.VERSION2, **kwargs)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            topic, payload, retain = will
            self.client.will_set(topic, payload, qos=1, retain=retain)
        self.messages: queue.Queue[Received] = queue.Queue()
        self.connect_reason: ReasonCode | None = None
        self._connack = threading.Event()
        self._acks: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self._started = False

    # -- connection ----------------------------------------------------------------------------

    def connect(self, timeout: float = 5.0) -> ReasonCode:
        """Connect and wait for the CONNACK; return its reason code (success or refusal)."""
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        self._started = True
        if not self._connack.wait(timeout):
            raise ProbeError(f"{self.client_id}: no CONNACK from {self.broker.url} in {timeout} s")
        assert self.connect_reason is not None
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.connect_reason

    def connected(self, timeout: float = 5.0) -> MqttProbe:
        """Connect and insist on success (for the common case)."""
        reason = self.connect(timeout)
        if reason.is_failure:
            raise ProbeError(f"{self.client_id}: CONNECT refused: {reason.getName()}")
        return self

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT, like a process killed with -9: the
        broker must publish this client's will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            # RST rather than FIN, so nothing is flushed in between.
            linger_on_zero_timeout = struct.pack("ii", 1, 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_on_zero_timeout)
            sock.close()
        self._started = False

    def close(self) -> None:
        """Disconnect cleanly (no will), stop paho's thread and close its sockets."""
        if self._started:
            self.client.disconnect()
            self._started = False
        self.client.loop_stop()
        # paho closes its wake-up socket pair only in __del__ (paho issue #627); our callbacks
        # make a reference cycle, so that would happen in some later test's garbage collection
        # and fail it with a ResourceWarning. Close them now.
        self.client._reset_sockets()

    def __enter__(self) -> MqttProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5.0) -> list[Any]:
        """Subscribe and wait for the SUBACK; return its reason codes (one per filter)."""
        # Never hold our lock while calling into paho: its loop thread holds paho's own locks
        # while it runs our callbacks, which take ours (the deadlock in FIELD-NOTES).
        result, mid = self.client.subscribe(topic, qos)
        if result != paho.MQTT_ERR_SUCCESS:
            raise ProbeError(f"subscribe refused locally: {paho.error_string(result)}")
        assert mid is not None
        with self._lock:
            done = self._acks.setdefault(mid, (threading.Event(), []))
        return self._wait(mid, done, timeout, "SUBACK")

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 5.0,
    ) -> ReasonCode:
        """Publish and, at QoS 1, wait for the PUBACK; return its reason code (under MQTT 3.1.1
        always success; at QoS 0 a local "Success", as nothing comes back)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise ProbeError(f"publish refused locally: {paho.error_string(info.rc)}")
        if qos == 0:
            return ReasonCode(PacketTypes.PUBACK, identifier=0)
        with self._lock:
            done = self._acks.setdefault(info.mid, (threading.Event(), []))
        result = self._wait(info.mid, done, timeout, "PUBACK")
        reason: ReasonCode = result[0]
        return reason

    def _wait(
        self, mid: int, done: tuple[threading.Event, list[Any]], timeout: float, what: str
    ) -> list[Any]:
        event, result = done
        if not event.wait(timeout):
            raise ProbeError(f"{self.client_id}: no {what} for message {mid} in {timeout} s")
        with self._lock:
            self._acks.pop(mid, None)
        return result

    # -- receiving -----------------------------------------------------------------------------

    def expect(self, topic: str, timeout: float = 5.0) -> Received:
        """The next message on ``topic`` (others are skipped), or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError(f"{self.client_id}: nothing on {topic!r} within {timeout} s")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.topic == topic:
                return message

    def received_within(self, seconds: float) -> list[Received]:
        """Everything that arrives in the next ``seconds`` (for asserting that nothing does)."""
        deadline = time.monotonic() + seconds
        got: list[Received] = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                got.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                break
        return got

    # -- paho callbacks (paho's thread: only record and signal) --------------------------------

    def _on_connect(
        self,
        _c: paho.Client,
        _u: object,
        _f: object,
        reason: ReasonCode,
        _p: Properties | None = None,
    ) -> None:
        self.connect_reason = reason
        self._connack.set()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))

    def _on_publish(
        self,
        _c: paho.Client,
        _u: object,
        mid: int,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        # May run before publish() has returned (and registered the mid): create the slot here.
        with self._lock:
            event, result = self._acks.setdefault(mid, (threading.Event(), []))
            result.append(reason)
        event.set()

    def _on_subscribe(
        self,
        _c: paho.Client,
        _u: object,
        mid: int,
        reasons: list[ReasonCode],
        _p: Properties | None,
    ) -> None:
        with self._lock:
            event, result = self._acks.setdefault(mid, (threading.Event(), []))
            result.extend(reasons)
        event.set()
