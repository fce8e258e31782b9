"""The broker side of the security contract, against real brokers.

Mosquitto with ``deploy/mosquitto/acl``: each store publishes only under its own ``up/`` and
reads only its own ``down/`` plus the hub's retained state; the hub sees everything. What the
broker does on a violation is asserted as Mosquitto really behaves (a forbidden PUBLISH is
acknowledged with reason 0x87, a forbidden SUBSCRIBE is granted and delivers nothing), because
the application-level acks are designed around exactly that.

The embedded amqtt broker (the fallback without Mosquitto) has no ACL; what the system needs
from it is delivery, retained messages and wills.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storelink_contract.topics import HUB_STATE, InvalidStoreId, store_topic
from storelink_demo.brokers import BrokerProcess, find_mosquitto, start_amqtt, start_mosquitto
from tests.support.mqtt import MqttProbe
from tests.support.services import require_service

NOT_AUTHORIZED = 0x87
BAD_USERNAME_OR_PASSWORD = 0x86
QUIET_S = 0.5  # how long "nothing arrives" is watched; delivery on loopback takes ~1 ms


def _store(
    broker: BrokerProcess, store_id: str, will: tuple[str, bytes, bool] | None = None
) -> MqttProbe:
    username, password = broker.credentials(store_id)
    return MqttProbe(broker, username=username, password=password, will=will)


@pytest.fixture
def hub(mosquitto_broker: BrokerProcess) -> Iterator[MqttProbe]:
    username, password = mosquitto_broker.hub_credentials()
    with MqttProbe(mosquitto_broker, username=username, password=password) as probe:
        probe.connected()
        yield probe


@pytest.fixture
def store_a(mosquitto_broker: BrokerProcess) -> Iterator[MqttProbe]:
    with _store(mosquitto_broker, "store-a") as probe:
        probe.connected()
        yield probe


@pytest.fixture
def store_b(mosquitto_broker: BrokerProcess) -> Iterator[MqttProbe]:
    with _store(mosquitto_broker, "store-b") as probe:
        probe.connected()
        yield probe


# -- Mosquitto with the project ACL --------------------------------------------------------------


def test_a_store_publishes_its_own_events_to_the_hub(hub: MqttProbe, store_a: MqttProbe) -> None:
    hub.subscribe("storelink/v1/stores/+/up/#")
    topic = store_topic("store-a", "up", "events")

    reason = store_a.publish(topic, b"batch-1")

    assert not reason.is_failure
    message = hub.expect(topic)
    assert message.payload == b"batch-1"


def test_a_store_cannot_publish_as_another_store(hub: MqttProbe, store_a: MqttProbe) -> None:
    hub.subscribe("storelink/v1/stores/+/up/#")

    reason = store_a.publish(store_topic("store-b", "up", "events"), b"forged")

    # Mosquitto acknowledges the refused PUBLISH; under MQTT 5 the PUBACK says why.
    assert reason.value == NOT_AUTHORIZED
    assert hub.received_within(QUIET_S) == []


def test_a_store_cannot_write_the_hub_state_or_a_down_topic(
    hub: MqttProbe, store_a: MqttProbe
) -> None:
    hub.subscribe("storelink/v1/#")

    for topic in (HUB_STATE, store_topic("store-a", "down", "commands")):
        reason = store_a.publish(topic, b"forged", retain=True)
        assert reason.value == NOT_AUTHORIZED, topic

    assert hub.received_within(QUIET_S) == []


def test_a_store_reads_only_its_own_commands(
    hub: MqttProbe, store_a: MqttProbe, store_b: MqttProbe
) -> None:
    b_commands = store_topic("store-b", "down", "commands")
    # Mosquitto grants the forbidden SUBSCRIBE on the wire and then delivers nothing.
    granted = store_a.subscribe(b_commands)
    assert [code.value for code in granted] == [1]
    store_a.subscribe("storelink/v1/stores/+/down/#")  # a wildcard does not widen it either
    store_b.subscribe(b_commands)

    hub.publish(b_commands, b"allocate order 17")

    assert store_b.expect(b_commands).payload == b"allocate order 17"
    assert store_a.received_within(QUIET_S) == []


def test_a_store_cannot_read_another_stores_events(
    hub: MqttProbe, store_a: MqttProbe, store_b: MqttProbe
) -> None:
    store_a.subscribe("storelink/v1/stores/store-b/up/#")
    b_birth = store_topic("store-b", "up", "state")

    store_b.publish(b_birth, b"birth", retain=True)

    hub.subscribe(b_birth)
    assert hub.expect(b_birth).retain
    assert store_a.received_within(QUIET_S) == []


def test_every_store_reads_the_retained_hub_state(
    mosquitto_broker: BrokerProcess, hub: MqttProbe
) -> None:
    assert not hub.publish(HUB_STATE, b"online", retain=True).is_failure

    # The stores connect after the hub went online: the retained state is what they see.
    for store_id in ("store-a", "store-c"):
        with _store(mosquitto_broker, store_id) as store:
            store.connected()
            store.subscribe(HUB_STATE)
            message = store.expect(HUB_STATE)
            assert (message.payload, message.retain) == (b"online", True)


@pytest.mark.parametrize(
    ("username", "password"),
    [("store-a", "wrong password"), ("store-x", "anything"), ("hub", "")],
    ids=["wrong-password", "unknown-store", "hub-without-password"],
)
def test_a_wrong_identity_is_refused_at_connect(
    mosquitto_broker: BrokerProcess, username: str, password: str
) -> None:
    with MqttProbe(mosquitto_broker, username=username, password=password) as probe:
        reason = probe.connect()
    # Mosquitto 2.0.11 answers 0x87 "Not authorized" for all three; 0x86 is what the MQTT 5
    # spec suggests for a bad password, and other versions may send it.
    assert reason.is_failure
    assert reason.value in (BAD_USERNAME_OR_PASSWORD, NOT_AUTHORIZED)


def test_an_anonymous_client_is_refused(mosquitto_broker: BrokerProcess) -> None:
    with MqttProbe(mosquitto_broker) as probe:
        reason = probe.connect()
    assert reason.value == NOT_AUTHORIZED


def test_store_identities_survive_a_broker_restart(mosquitto_broker: BrokerProcess) -> None:
    mosquitto_broker.stop()
    assert not mosquitto_broker.is_running()
    mosquitto_broker.start()

    with _store(mosquitto_broker, "store-a") as store:
        assert not store.connect().is_failure


def test_credentials_are_per_store_and_the_hub_is_separate(
    mosquitto_broker: BrokerProcess,
) -> None:
    users = {mosquitto_broker.credentials(s)[1] for s in ("store-a", "store-b", "store-c")} | {
        mosquitto_broker.hub_credentials()[1]
    }
    assert len(users) == 4  # four distinct random passwords
    with pytest.raises(KeyError):
        mosquitto_broker.credentials("store-z")
    with pytest.raises(InvalidStoreId, match="reserved"):
        mosquitto_broker.credentials("hub")


@pytest.mark.parametrize("bad_id", ["store/a", "+", "#", "a b", "", "x" * 33])
def test_unsafe_store_ids_never_reach_the_password_file_or_acl(tmp_path: Path, bad_id: str) -> None:
    require_service(find_mosquitto() is not None, "mosquitto is not installed")
    with pytest.raises(InvalidStoreId):
        start_mosquitto(tmp_path, store_ids=["store-a", bad_id])
    assert not (tmp_path / "passwd").exists()


def test_the_hub_username_cannot_be_a_store_id(tmp_path: Path) -> None:
    require_service(find_mosquitto() is not None, "mosquitto is not installed")
    with pytest.raises(ValueError, match="reserved"):
        start_mosquitto(tmp_path, store_ids=["hub"])


def test_without_acl_mosquitto_is_anonymous_for_benchmarks(tmp_path: Path) -> None:
    require_service(find_mosquitto() is not None, "mosquitto is not installed")
    with start_mosquitto(tmp_path, acl=False) as broker:
        assert broker.credentials("store-a") == (None, None)
        with MqttProbe(broker) as anyone:
            anyone.connected()
            anyone.subscribe("storelink/v1/#")
            anyone.publish(store_topic("store-b", "up", "events"), b"x")
            assert anyone.expect(store_topic("store-b", "up", "events")).payload == b"x"
    assert not broker.is_running()


# -- the embedded amqtt broker -----------------------------------------------------------------


@pytest.fixture
def amqtt_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    with start_amqtt(workdir=tmp_path) as broker:
        yield broker
    assert not broker.is_running()


def test_amqtt_speaks_mqtt_311_and_delivers(amqtt_broker: BrokerProcess) -> None:
    assert amqtt_broker.protocol == "3.1.1"
    assert amqtt_broker.credentials("store-a") == (None, None)
    topic = store_topic("store-a", "up", "events")
    with MqttProbe(amqtt_broker) as hub, MqttProbe(amqtt_broker) as store:
        hub.connected()
        store.connected()
        hub.subscribe("storelink/v1/stores/+/up/#")

        assert not store.publish(topic, b"batch-1").is_failure

        assert hub.expect(topic).payload == b"batch-1"


def test_amqtt_keeps_retained_state_for_late_subscribers(amqtt_broker: BrokerProcess) -> None:
    with MqttProbe(amqtt_broker) as hub:
        hub.connected()
        hub.publish(HUB_STATE, b"online", retain=True)

    with MqttProbe(amqtt_broker) as store:
        store.connected()
        store.subscribe(HUB_STATE)
        message = store.expect(HUB_STATE)
        assert (message.payload, message.retain) == (b"online", True)
        # Exactly once, and nothing it did not subscribe to.
        assert store.received_within(QUIET_S) == []


def test_amqtt_sends_a_client_only_the_retained_messages_it_subscribed_to(
    amqtt_broker: BrokerProcess,
) -> None:
    a_birth = store_topic("store-a", "up", "state")
    with MqttProbe(amqtt_broker) as hub, MqttProbe(amqtt_broker) as store_a:
        hub.connected()
        hub.subscribe("storelink/v1/stores/+/up/#")
        store_a.connected()
        store_a.publish(a_birth, b"birth", retain=True)
        hub.expect(a_birth)

        # amqtt 0.12 unpatched sends a connecting client the retained messages matching any
        # client's subscriptions (here the hub's): store-b would get store-a's birth.
        with MqttProbe(amqtt_broker) as store_b:
            store_b.connected()
            store_b.subscribe(store_topic("store-b", "down", "commands"))
            assert store_b.received_within(QUIET_S) == []


def test_amqtt_publishes_the_will_of_a_killed_client(amqtt_broker: BrokerProcess) -> None:
    state = store_topic("store-a", "up", "state")
    with MqttProbe(amqtt_broker) as hub:
        hub.connected()
        hub.subscribe(state)
        agent = MqttProbe(amqtt_broker, will=(state, b"death", True))
        agent.connected()
        agent.publish(state, b"birth", retain=True)
        assert hub.expect(state).payload == b"birth"

        agent.kill()  # the process dies: no DISCONNECT

        assert hub.expect(state).payload == b"death"
        agent.close()

    # The will was retained: a hub that starts later sees the store as offline.
    with MqttProbe(amqtt_broker) as late:
        late.connected()
        late.subscribe(state)
        message = late.expect(state)
        assert (message.payload, message.retain) == (b"death", True)


def test_amqtt_comes_back_on_the_same_port(amqtt_broker: BrokerProcess) -> None:
    url = amqtt_broker.url
    amqtt_broker.stop()
    amqtt_broker.start()
    assert amqtt_broker.url == url
    with MqttProbe(amqtt_broker) as client:
        client.connected()


def test_mosquitto_publishes_the_will_of_a_killed_store(
    mosquitto_broker: BrokerProcess, hub: MqttProbe
) -> None:
    state = store_topic("store-a", "up", "state")
    hub.subscribe(state)
    agent = _store(mosquitto_broker, "store-a", will=(state, b"death", True))
    agent.connected()

    agent.kill()

    assert hub.expect(state).payload == b"death"
    agent.close()
