"""What the hub does with each MQTT message from a store (no broker needed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from cloud_hub import commands, fleet, quarantine
from cloud_hub.fanout import FanOut
from cloud_hub.inbound import Inbound
from cloud_hub.ingest import current_view
from storelink_contract.commands import ResyncRequest
from storelink_contract.session import Ack, ResendRequest, StoreState
from tests.cloud_hub.hub_helpers import digest, payload, received

EVENTS = "storelink/v1/stores/s1/up/events"
ACKS = "storelink/v1/stores/s1/up/acks"
STATE = "storelink/v1/stores/s1/up/state"


def _state(kind: str, bdseq: int, store_id: str = "s1", applied: int = 0) -> bytes:
    return (
        StoreState(kind=kind, store_id=store_id, bdseq=bdseq, commands_applied_upto=applied)  # type: ignore[arg-type]
        .model_dump_json()
        .encode()
    )


def test_events_are_applied_and_acked(engine: Engine, now: datetime) -> None:
    fan = FanOut()
    hub = Inbound(engine, fan)
    reaction = hub.handle(EVENTS, payload("s1", 1, [received("A", 3, now)]), now)
    assert reaction.events_ack == 1
    assert fan.pending() == 1
    gap = hub.handle(EVENTS, payload("s1", 5, [received("A", 3, now)]), now)
    assert (gap.events_ack, gap.events_resend_from) == (None, 2)


def test_payload_claiming_another_store_is_quarantined(engine: Engine, now: datetime) -> None:
    hub = Inbound(engine, FanOut())
    reaction = hub.handle(EVENTS, payload("s2", 1, [received("A", 3, now)]), now)
    assert reaction.events_ack is None
    assert reaction.quarantined == "payload claims store 's2' on store 's1''s topic"
    state = hub.handle(STATE, _state("birth", 1, store_id="s2"), now)
    assert state.quarantined is not None
    with engine.connect() as conn:
        assert current_view(conn, "s1") == {}
        assert current_view(conn, "s2") == {}
        entries = quarantine.listing(conn)
        assert not fleet.store_exists(conn, "s2")
    assert [e.topic for e in entries] == [STATE, EVENTS]
    assert all("claims store 's2'" in e.reason for e in entries)


def test_malformed_messages_are_quarantined(engine: Engine, now: datetime) -> None:
    hub = Inbound(engine, FanOut())
    assert "not JSON" in (hub.handle(EVENTS, b"\xff{", now).quarantined or "")
    assert "bad batch envelope" in (hub.handle(EVENTS, b'{"v": 1}', now).quarantined or "")
    assert "bad ack" in (hub.handle(ACKS, b'{"kind": "nope"}', now).quarantined or "")
    assert hub.handle("storelink/v1/stores/s1/up/rpc", b"{}", now).quarantined is not None
    assert hub.handle("storelink/v1/other", b"{}", now).quarantined is not None
    # The stream still works after all that.
    assert hub.handle(EVENTS, payload("s1", 1, [received("A", 1, now)]), now).events_ack == 1
    with engine.connect() as conn:
        assert len(quarantine.listing(conn)) == 5


def test_birth_death_and_stale_death(engine: Engine, now: datetime) -> None:
    hub = Inbound(engine, FanOut())
    with engine.begin() as conn:
        fleet.ensure_store(conn, "s1", now)
        commands.enqueue_for_store(conn, "s1", [ResyncRequest(at=now, reason="x")] * 3, now)
    birth = hub.handle(STATE, _state("birth", 5, applied=2), now)
    assert birth.birth_applied_upto == 2
    stale = hub.handle(STATE, _state("death", 4), now)
    assert not stale.went_offline
    with engine.connect() as conn:
        status = fleet.status(conn, "s1")
        assert status is not None
        assert status.online
        # the birth said 1 and 2 are applied; 3 is pending, and the birth's stock_peers
        assert status.commands_pending == 2
    assert hub.handle(STATE, _state("death", 5), now).went_offline
    with engine.connect() as conn:
        status = fleet.status(conn, "s1")
        assert status is not None
        assert not status.online


def test_command_acks_and_resend_requests(engine: Engine, now: datetime) -> None:
    hub = Inbound(engine, FanOut())
    with engine.begin() as conn:
        fleet.ensure_store(conn, "s1", now)
        commands.enqueue_for_store(conn, "s1", [ResyncRequest(at=now, reason="x")] * 3, now)
    ack = Ack(stream="commands", upto=2).model_dump_json().encode()
    assert hub.handle(ACKS, ack, now).commands_acked_upto == 2
    resend = ResendRequest(stream="commands", from_seq=3).model_dump_json().encode()
    assert hub.handle(ACKS, resend, now).commands_resend_from == 3
    events_ack = Ack(stream="events", upto=2).model_dump_json().encode()
    assert hub.handle(ACKS, events_ack, now).quarantined is not None


def test_digest_mismatch_queues_one_resync_request(engine: Engine, now: datetime) -> None:
    hub = Inbound(engine, FanOut())
    hub.handle(EVENTS, payload("s1", 1, [received("A", 3, now)]), now)
    hub.handle(EVENTS, payload("s1", 2, [digest({"A": 9}, now)]), now)
    hub.handle(EVENTS, payload("s1", 3, [digest({"A": 8}, now)]), now)
    with engine.connect() as conn:
        pending = commands.pending(conn, "s1", 0, 10)
    assert len(pending) == 1
    assert '"resync_request"' in pending[0].payload


def test_a_status_from_a_newer_session_brings_a_store_back_online(
    engine: Engine, now: datetime
) -> None:
    """The hub missed the store's birth (it was down); the retained status must do."""
    from cloud_hub import fleet
    from storelink_contract.session import StoreState

    with engine.begin() as conn:
        fleet.apply_state(conn, StoreState(kind="birth", store_id="s1", bdseq=5), now)
        fleet.apply_state(conn, StoreState(kind="death", store_id="s1", bdseq=5), now)
        outcome = fleet.apply_state(
            conn, StoreState(kind="status", store_id="s1", bdseq=6, commands_applied_upto=3), now
        )
        assert outcome.kind == "birth"
        assert fleet.online_store_ids(conn) == ["s1"]
        stale = fleet.apply_state(conn, StoreState(kind="death", store_id="s1", bdseq=5), now)
        assert fleet.online_store_ids(conn) == ["s1"]
        assert stale.kind == "death"


def test_an_unreachable_database_asks_for_a_retry_instead_of_quarantining(now: datetime) -> None:
    """A birth that met a database outage must be applied later, not set aside forever."""
    from cloud_hub.db import make_engine

    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        hub = Inbound(down, FanOut())
        reaction = hub.handle("storelink/v1/stores/s1/up/state", _state("birth", 1), now)
        assert reaction.retry
        assert reaction.quarantined is None
    finally:
        down.dispose()


def test_a_hub_restored_from_an_older_backup_catches_up_from_the_stores_birth(
    engine: Engine, now: datetime
) -> None:
    """The store knows events 1-50 were acked and commands 1-600 applied; the restored hub
    has applied 10 and allocated 5. It must not stall on a gap or reuse command numbers."""
    hub = Inbound(engine, FanOut())
    hub.handle("storelink/v1/stores/s1/up/events", payload("s1", 1, [received("A", 1, now)]), now)
    with engine.begin() as conn:
        commands.enqueue(conn, ["s1"], ResyncRequest(at=now, reason="old"), now)
        commands.acknowledge(conn, "s1", 1)
    birth = (
        StoreState(
            kind="birth", store_id="s1", bdseq=9, events_acked_upto=50, commands_applied_upto=600
        )
        .model_dump_json()
        .encode()
    )
    hub.handle("storelink/v1/stores/s1/up/state", birth, now)
    with engine.begin() as conn:
        assert fleet.status(conn, "s1").events_applied_upto == 50  # type: ignore[union-attr]
        assert commands.has_pending_of_type(conn, "s1", "resync_request")
        assert commands.allocate(conn, "s1") > 600
        reasons = [q.reason for q in quarantine.listing(conn)]
    assert any("Events 2-50 are lost" in r for r in reasons)
    assert any("beyond the hub's last one" in r for r in reasons)
    # The store's next batch continues after 50 and applies: no resend loop.
    nxt = hub.handle(
        "storelink/v1/stores/s1/up/events", payload("s1", 51, [received("A", 2, now, "r2")]), now
    )
    assert nxt.events_ack == 51
