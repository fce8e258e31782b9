"""LLRP tag reports (as sllurp 3 decodes them from real RO_ACCESS_REPORT bytes) to TagReads."""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sllurp.llrp import LLRPMessage, LLRPReaderClient, LLRPReaderConfig

from devices.errors import DeviceUnavailable
from devices.rfid.llrp import LlrpReader, tag_reads_from_report
from devices.rfid.reads import TagRead

TDS_EPC = bytes.fromhex("3074257BF7194E4000001A85")
SHORT_EPC = bytes.fromhex("E2003412B8020115")  # 64-bit EPC: sent as EPCData, not EPC-96
SEEN_US = 1_700_000_000_123_456  # LastSeenTimestampUTC, microseconds since the epoch

# -- LLRP 1.1 encoding of a report, as a reader sends it ------------------------------------


def _tag_report_data(epc: bytes, antenna: int, rssi: int | None, seen_us: int | None) -> bytes:
    if len(epc) == 12:
        params = bytes([0x80 | 13]) + epc  # EPC-96, a TV parameter
    else:
        params = struct.pack("!HHH", 241, 6 + len(epc), len(epc) * 8) + epc  # EPCData (TLV)
    params += struct.pack("!BH", 0x80 | 1, antenna)  # AntennaID
    if rssi is not None:
        params += struct.pack("!Bb", 0x80 | 6, rssi)  # PeakRSSI
    if seen_us is not None:
        params += struct.pack("!BQ", 0x80 | 4, seen_us)  # LastSeenTimestampUTC
    params += struct.pack("!BH", 0x80 | 8, 3)  # TagSeenCount
    return struct.pack("!HH", 240, 4 + len(params)) + params


def ro_access_report(*tags: bytes, message_id: int = 7) -> bytes:
    body = b"".join(tags)
    return struct.pack("!HII", (1 << 10) | 61, 10 + len(body), message_id) + body


REPORT = ro_access_report(
    _tag_report_data(TDS_EPC, antenna=2, rssi=-57, seen_us=SEEN_US),
    _tag_report_data(SHORT_EPC, antenna=1, rssi=None, seen_us=None),
)


def _as_sllurp_delivers(raw: bytes) -> list[dict[str, Any]]:
    report: list[dict[str, Any]] = LLRPMessage(msgbytes=raw).msgdict["RO_ACCESS_REPORT"][
        "TagReportData"
    ]
    return report


def test_sllurp_delivers_epc_as_hex_bytes() -> None:
    first, second = _as_sllurp_delivers(REPORT)
    assert first["EPC"] == b"3074257bf7194e4000001a85"
    assert (first["AntennaID"], first["PeakRSSI"], first["LastSeenTimestampUTC"]) == (
        2,
        -57,
        SEEN_US,
    )
    assert second["EPC"] == b"e2003412b8020115"


def test_report_dicts_become_tag_reads() -> None:
    fallback = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    reads = tag_reads_from_report(_as_sllurp_delivers(REPORT), "dock-door", received_at=fallback)
    assert reads == [
        TagRead(
            epc_hex="3074257BF7194E4000001A85",
            antenna=2,
            rssi=-57,
            reader_id="dock-door",
            seen_at=datetime.fromtimestamp(SEEN_US / 1e6, UTC),
        ),
        TagRead("E2003412B8020115", 1, None, "dock-door", fallback),
    ]
    assert reads[0].seen_at.year == 2023


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"EPC-96": b"3074257bf7194e4000001a85", "AntennaID": 1}, "3074257BF7194E4000001A85"),
        ({"EPC": "3074257bf7194e4000001a85"}, "3074257BF7194E4000001A85"),
    ],
)
def test_epc_spellings(entry: dict[str, Any], expected: str) -> None:
    (read,) = tag_reads_from_report([entry], "r")
    assert read.epc_hex == expected


def test_impinj_peak_rssi_in_centi_dbm_and_entries_without_epc() -> None:
    report = [
        {"EPC": b"aa", "AntennaID": 3, "ImpinjPeakRSSI": -6150},
        {"C1G2ReadOpSpecResult": {"Result": 0}},  # an access result on its own: no tag
    ]
    (read,) = tag_reads_from_report(report, "r")
    assert (read.antenna, read.rssi) == (3, -62)


def test_raw_report_bytes_split_anywhere_reach_the_callback_through_sllurp() -> None:
    got: list[TagRead] = []
    client = LLRPReaderClient("127.0.0.1", 5084, LLRPReaderConfig({"antennas": [1, 2]}))
    client.add_tag_report_callback(
        lambda _client, report: got.extend(tag_reads_from_report(report, "r"))
    )
    stream = REPORT + ro_access_report(_tag_report_data(TDS_EPC, 1, -40, SEEN_US))
    for cut in (3, 11, 40):  # sllurp buffers partial messages itself
        client.raw_data_received(stream[:cut])
        client.raw_data_received(stream[cut:])
    assert [r.epc_hex for r in got] == [
        "3074257BF7194E4000001A85",
        "E2003412B8020115",
        "3074257BF7194E4000001A85",
    ] * 3
    assert {r.antenna for r in got} == {1, 2}


# -- LlrpReader against a scripted reader on a real TCP socket -------------------------------


def _llrp_status_response(msg_type: int, message_id: int) -> bytes:
    status = struct.pack("!HHHH", 287, 8, 0, 0)  # LLRPStatus: Success, no description
    return struct.pack("!HII", (1 << 10) | msg_type, 10 + len(status), message_id) + status


class ScriptedLlrpReader:
    """Accepts one client, sends it ``reports``, and answers the polite-stop messages
    (DELETE_ACCESSSPEC -> 51, DELETE_ROSPEC -> 31). It skips the configuration handshake:
    sllurp hands RO_ACCESS_REPORTs to tag callbacks whatever its state."""

    def __init__(self, reports: list[bytes], *, hang_up_after_reports: bool = False) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._reports = reports
        self._hang_up = hang_up_after_reports
        self.received: list[int] = []
        self._thread = threading.Thread(target=self._serve, name="fake-llrp")
        self._thread.start()

    def _serve(self) -> None:
        self._server.settimeout(5)
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        with conn:
            for report in self._reports:
                conn.sendall(report)
            if self._hang_up:
                return
            conn.settimeout(5)
            buffer = b""
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while len(buffer) >= 10:
                    head, length, message_id = struct.unpack("!HII", buffer[:10])
                    if len(buffer) < length:
                        break
                    buffer = buffer[length:]
                    msg_type = head & 0x3FF
                    self.received.append(msg_type)
                    # A reader takes a moment to answer; sllurp 3.0.5 sets its "waiting for
                    # the response" state only after sending, so an instant answer on
                    # loopback can arrive before it is ready for it.
                    time.sleep(0.05)
                    if msg_type == 41:
                        conn.sendall(_llrp_status_response(51, message_id))
                    elif msg_type == 21:
                        conn.sendall(_llrp_status_response(31, message_id))

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)


@pytest.fixture
def tag_queue() -> queue.Queue[list[TagRead]]:
    return queue.Queue()


@pytest.fixture
def scripted() -> Iterator[ScriptedLlrpReader]:
    fake = ScriptedLlrpReader([REPORT[:13], REPORT[13:]])  # a report split across TCP segments
    yield fake
    fake.close()


def test_llrp_reader_delivers_reports_and_stops_politely(
    scripted: ScriptedLlrpReader, tag_queue: queue.Queue[list[TagRead]]
) -> None:
    reader = LlrpReader("127.0.0.1", scripted.port, antennas=(1, 2), on_tags=tag_queue.put)
    reader.start()
    try:
        assert reader.connected
        reads = tag_queue.get(timeout=5)
    finally:
        reader.stop()
    assert [r.epc_hex for r in reads] == ["3074257BF7194E4000001A85", "E2003412B8020115"]
    assert reads[0].reader_id == f"llrp:127.0.0.1:{scripted.port}"
    assert reader.stats.frames == 2
    assert not reader.connected
    assert scripted.received[:2] == [41, 21]  # DELETE_ACCESSSPEC, then DELETE_ROSPEC


def test_reader_hanging_up_marks_the_reader_disconnected(
    tag_queue: queue.Queue[list[TagRead]],
) -> None:
    fake = ScriptedLlrpReader([REPORT], hang_up_after_reports=True)
    reader = LlrpReader("127.0.0.1", fake.port, on_tags=tag_queue.put, reader_id="gate")
    try:
        reader.start()
        assert len(tag_queue.get(timeout=5)) == 2
        deadline = time.monotonic() + 5
        while reader.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not reader.connected
    finally:
        reader.stop()
        fake.close()


def test_unreachable_reader_is_device_unavailable(tag_queue: queue.Queue[list[TagRead]]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    reader = LlrpReader("127.0.0.1", closed_port, on_tags=tag_queue.put, connect_timeout_s=1)
    with pytest.raises(DeviceUnavailable):
        reader.start()
    assert not reader.connected
    reader.stop()  # harmless when never started
