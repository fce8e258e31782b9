"""The hub's MQTT link against a real, private Mosquitto process."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub import commands
from cloud_hub.service import HubService
from cloud_hub.settings import HubSettings
from storelink_contract.commands import ResyncRequest
from storelink_contract.envelope import decode_batch
from storelink_contract.session import Ack, StoreState
from tests.cloud_hub.hub_helpers import payload, received
from tests.support.services import service_missing

pytestmark = pytest.mark.mosquitto


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        service_missing("the mosquitto binary is not installed")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("mosquitto did not start")
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


class FakeStore:
    """A bare paho client playing store s1: publishes up/, collects down/."""

    def __init__(self, broker_url: str) -> None:
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        host, port = broker_url.removeprefix("mqtt://").split(":")
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="fake-store-s1")
        self.client.on_message = lambda _c, _u, m: self.inbox.put((m.topic, bytes(m.payload)))
        self.client.connect(host, int(port))
        self.client.subscribe("storelink/v1/stores/s1/down/#", qos=1)
        self.client.subscribe("storelink/v1/hub/state", qos=1)
        self.client.loop_start()

    def publish(self, channel: str, body: bytes) -> None:
        self.client.publish(f"storelink/v1/stores/s1/up/{channel}", body, qos=1).wait_for_publish(5)

    def expect(self, topic_suffix: str, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                topic, body = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if topic.endswith(topic_suffix):
                return body
        raise AssertionError(f"nothing on {topic_suffix} within {timeout} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_events_are_acked_and_commands_delivered(broker_url: str, tmp_path: Path) -> None:
    settings = HubSettings(
        database_url=f"sqlite:///{tmp_path}/hub.db",
        broker_url=broker_url,
        broker_username=None,
        client_id="hub-under-test",
        fanout_interval_s=0.1,
        ack_timeout_s=1.0,
    )
    service = HubService(settings)
    service.start()
    store = FakeStore(broker_url)
    try:
        assert json.loads(store.expect("hub/state"))["online"] is True
        now = datetime.now(UTC)
        birth = StoreState(kind="birth", store_id="s1", bdseq=1).model_dump_json().encode()
        store.publish("state", birth)
        store.publish("events", payload("s1", 1, [received("A", 4, now), received("B", 1, now)]))
        assert json.loads(store.expect("down/acks")) == {
            "v": 1,
            "kind": "ack",
            "stream": "events",
            "upto": 2,
        }

        # The birth told the store which stores it follows (none: it is alone).
        told = decode_batch(store.expect("down/commands"))
        assert (told.sender, told.first_seq) == ("hub", 1)
        assert [i["type"] for i in told.items] == ["stock_peers"]
        store.publish("acks", Ack(stream="commands", upto=1).model_dump_json().encode())
        with service.engine.begin() as conn:
            commands.enqueue(conn, ["s1"], ResyncRequest(at=now, reason="test"), now)
        first = decode_batch(store.expect("down/commands"))
        while first.first_seq == 1:  # a resend of the first batch, sent before our ack came
            first = decode_batch(store.expect("down/commands"))
        assert first.first_seq == 2
        assert first.items[0]["type"] == "resync_request"
        # No ack: go-back-N sends it again after ack_timeout_s.
        again = decode_batch(store.expect("down/commands"))
        assert again.first_seq == 2
        store.publish("acks", Ack(stream="commands", upto=2).model_dump_json().encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with service.engine.connect() as conn:
                if commands.backlog(conn, "s1") == 0:
                    break
            time.sleep(0.05)
        with service.engine.connect() as conn:
            assert commands.backlog(conn, "s1") == 0

        # A gap is answered with a resend request from the first missing sequence.
        store.publish("events", payload("s1", 9, [received("A", 1, now)]))
        assert json.loads(store.expect("down/acks")) == {
            "v": 1,
            "kind": "resend",
            "stream": "events",
            "from_seq": 3,
        }
    finally:
        service.stop()
        try:
            assert json.loads(store.expect("hub/state"))["online"] is False
        finally:
            store.close()
