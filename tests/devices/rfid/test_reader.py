"""ChafonReader against ChafonSimulator over a real pty pair, with every fault knob."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devices.errors import DeviceError, DeviceTimeout, DeviceUnavailable
from devices.rfid.chafon import ChafonFrame, InventoryLayout, encode_frame
from devices.rfid.client import ChafonReader
from devices.rfid.epc import Sgtin96, decode_epc, encode_sgtin96
from devices.rfid.reads import TagRead
from devices.rfid.simulator import ChafonSimulator, demo_tags
from devices.simkit import Faults, PtyPair, read_available

FIELD = demo_tags(40)
FIELD_HEX = {epc.hex().upper() for epc in FIELD}


@pytest.fixture
def simulator() -> Iterator[ChafonSimulator]:
    with ChafonSimulator(FIELD, Faults(seed=1)) as sim:
        yield sim


@pytest.fixture
def reader(simulator: ChafonSimulator) -> Iterator[ChafonReader]:
    with ChafonReader(simulator.path, reader_id="shelf-1") as reader:
        yield reader


def _epcs(reads: list[TagRead]) -> set[str]:
    return {r.epc_hex for r in reads}


def _wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_inventory_returns_every_tag_in_the_field(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    reads = reader.inventory(timeout=1.0)

    assert _epcs(reads) == FIELD_HEX
    assert len(reads) == 40  # 40 tags need several "more data" frames, none counted twice
    first = reads[0]
    assert (first.reader_id, first.antenna, first.rssi) == ("shelf-1", 1, None)
    assert first.seen_at.tzinfo is not None
    assert all(isinstance(decode_epc(r.epc_hex), Sgtin96) for r in reads)
    assert reader.stats.rejected == 0
    assert reader.stats.frames >= 2


def test_tags_coming_and_going_show_in_the_next_round(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    new = encode_sgtin96("0614141", "812345", 6789, filter_value=3)
    simulator.remove_tag(FIELD[0])
    simulator.add_tag(new)
    assert _epcs(reader.read(timeout=1.0)) == FIELD_HEX - {FIELD[0].hex().upper()} | {
        "3074257BF7194E4000001A85"
    }
    simulator.set_tags([])
    assert reader.inventory(timeout=1.0) == []  # the reader's own "no tag", not a timeout


def test_read_waits_at_least_the_round_timeout(simulator: ChafonSimulator) -> None:
    with ChafonReader(simulator.path, round_timeout_s=1.0) as reader:
        simulator.faults.reply_delay_s = 0.4  # a real reader answers after its scan time
        assert _epcs(reader.read(timeout=0.1)) == FIELD_HEX


def test_antenna_byte_rssi_and_antenna_map() -> None:
    with (
        ChafonSimulator(FIELD[:3], layout=InventoryLayout.ANTENNA_RSSI, antenna=2) as sim288,
        ChafonReader(
            sim288.path, layout=InventoryLayout.ANTENNA_RSSI, antenna_map={2: 7}
        ) as reader,
    ):
        reads = reader.inventory(timeout=1.0)
    assert _epcs(reads) == {epc.hex().upper() for epc in FIELD[:3]}
    assert {r.antenna for r in reads} == {7}
    assert {r.rssi for r in reads} == {50}


@pytest.mark.parametrize("knob", ["split", "duplicate", "stray", "reply_delay_s"])
def test_faults_that_lose_nothing_still_give_the_whole_field(
    simulator: ChafonSimulator, reader: ChafonReader, knob: str
) -> None:
    setattr(simulator.faults, knob, 0.05 if knob == "reply_delay_s" else 1.0)
    for _ in range(5):
        assert _epcs(reader.inventory(timeout=1.0)) == FIELD_HEX
    if knob == "stray":
        assert reader.stats.rejected > 0  # the noise was seen and counted, not decoded


def test_corrupt_frames_are_counted_and_never_become_tags(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    simulator.faults.corrupt = 0.3
    seen: set[str] = set()
    for _ in range(10):
        seen |= _epcs(reader.inventory(timeout=0.3))
    assert seen <= FIELD_HEX  # a flipped bit never invents a tag
    assert reader.stats.rejected > 0
    assert len(seen) > 20  # most rounds still get through
    simulator.faults.corrupt = 0.0
    assert _epcs(reader.inventory(timeout=1.0)) == FIELD_HEX


def test_dropped_reply_times_out_and_the_next_round_works(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    simulator.faults.drop_reply = 1.0
    with pytest.raises(DeviceTimeout):
        reader.inventory(timeout=0.3)
    simulator.faults.drop_reply = 0.0
    assert _epcs(reader.inventory(timeout=1.0)) == FIELD_HEX


def test_a_late_reply_is_flushed_not_taken_for_the_next_answer(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    simulator.set_tags(FIELD[:5])
    simulator.faults.reply_delay_s = 0.5
    with pytest.raises(DeviceTimeout):
        reader.inventory(timeout=0.2)
    _wait_until(lambda: simulator.replies_sent == 1)  # the stale answer is now on the line
    simulator.faults.reply_delay_s = 0.0
    simulator.set_tags(FIELD[5:8])

    reads = reader.inventory(timeout=1.0)

    assert _epcs(reads) == {epc.hex().upper() for epc in FIELD[5:8]}
    assert reader.stats.rejected == 0


def test_unplug_gives_device_unavailable_and_replug_reopens(
    simulator: ChafonSimulator, reader: ChafonReader
) -> None:
    assert len(reader.inventory(timeout=1.0)) == 40
    simulator.unplug()
    with pytest.raises(DeviceUnavailable):
        reader.inventory(timeout=0.5)
    assert not reader.is_open
    with pytest.raises(DeviceUnavailable):
        reader.open()  # still unplugged
    simulator.replug()
    reader.open()
    assert len(reader.inventory(timeout=1.0)) == 40


def test_unplug_while_waiting_for_a_reply(simulator: ChafonSimulator, reader: ChafonReader) -> None:
    simulator.faults.drop_reply = 1.0
    started = time.monotonic()
    timer = threading.Timer(0.2, simulator.unplug)
    timer.start()
    try:
        with pytest.raises(DeviceUnavailable):
            reader.inventory(timeout=2.0)
    finally:
        timer.join()
    assert time.monotonic() - started < 1.5


def test_other_addresses_on_the_bus_are_ignored(simulator: ChafonSimulator) -> None:
    with ChafonReader(simulator.path, address=0x07) as reader, pytest.raises(DeviceTimeout):
        reader.inventory(timeout=0.3)
    with ChafonReader(simulator.path, address=0xFF) as reader:  # broadcast: anyone answers
        assert _epcs(reader.inventory(timeout=1.0)) == FIELD_HEX


def test_reader_error_status_is_a_device_error() -> None:
    pty = PtyPair()
    try:
        with ChafonReader(pty.path) as reader:

            def answer() -> None:
                read_available(pty.device_fd, 1.0)
                os.write(pty.device_fd, encode_frame(ChafonFrame(0, 0x01, b"\xf8")))

            responder = threading.Thread(target=answer)
            responder.start()
            try:
                with pytest.raises(DeviceError, match="antenna"):
                    reader.inventory(timeout=1.0)
            finally:
                responder.join()
    finally:
        pty.close()


def test_closed_reader_refuses_to_inventory(simulator: ChafonSimulator) -> None:
    reader = ChafonReader(simulator.path)
    with pytest.raises(DeviceUnavailable):
        reader.inventory(timeout=0.1)


def test_opening_a_missing_port_is_device_unavailable() -> None:
    with pytest.raises(DeviceUnavailable):
        ChafonReader("/dev/does-not-exist-uhf").open()


def test_simulator_cli_prints_a_path_a_reader_can_open() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "devices.rfid.simulator", "--tags", "4", "--split", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            path = proc.stdout.readline().strip()
            with ChafonReader(path) as reader:
                reads = reader.inventory(timeout=2.0)
            assert len(reads) == 4
            assert all(isinstance(decode_epc(r.epc_hex), Sgtin96) for r in reads)
        finally:
            proc.terminate()
        assert proc.wait(timeout=5) == 0
