"""ScannerClient against ScannerSimulator over a real pty pair, with each fault the simulator
knows: what a store's scanner does wrong, and what the agent sees of it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from devices.errors import DeviceUnavailable
from devices.scanner.client import ScannerClient
from devices.scanner.protocol import CRLF, Scan, Symbology
from devices.scanner.simulator import ScannerSimulator
from devices.simkit import Faults

EAN = "4006381333931"
GTIN14 = "04006381333931"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sim() -> Iterator[ScannerSimulator]:
    with ScannerSimulator(Faults(seed=7)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: ScannerSimulator) -> Iterator[ScannerClient]:
    with ScannerClient(sim.path) as scanner:
        yield scanner


def collect(client: ScannerClient, count: int, timeout: float = 3.0) -> list[Scan]:
    """Reads until ``count`` arrived or the deadline (then what there is)."""
    scans: list[Scan] = []
    deadline = time.monotonic() + timeout
    while len(scans) < count and time.monotonic() < deadline:
        scans += client.read(timeout=0.2)
    return scans


def test_clean_reads_arrive_typed_and_in_order(
    sim: ScannerSimulator, client: ScannerClient
) -> None:
    sim.scan(EAN)
    sim.scan("01095011015300031724123110ABC123\x1d21XYZ", "]C1")
    sim.scan("96385074", "]E4")
    scans = collect(client, 3)
    assert [s.gtin for s in scans] == [GTIN14, "09501101530003", "00000096385074"]
    assert scans[1].symbology is Symbology.GS1_128
    assert (scans[1].batch, scans[1].expiry, scans[1].serial) == (
        "ABC123",
        date(2024, 12, 31),
        "XYZ",
    )
    assert client.stats.frames == 3
    assert client.stats.rejected == 0
    assert client.stats.last_frame_at is not None


def test_read_returns_nothing_when_nobody_scans(client: ScannerClient) -> None:
    started = time.monotonic()
    assert client.read(timeout=0.3) == []
    assert time.monotonic() - started >= 0.3


def test_prefix_and_cr_lf() -> None:
    with (
        ScannerSimulator(suffix=CRLF, prefix=b"\x02") as sim,
        ScannerClient(sim.path, suffix=CRLF, prefix=b"\x02") as client,
    ):
        sim.scan(EAN)
        sim.scan(EAN)
        assert [s.gtin for s in collect(client, 2)] == [GTIN14, GTIN14]
        assert client.stats.rejected == 0


def test_split_reads_are_joined(sim: ScannerSimulator, client: ScannerClient) -> None:
    sim.faults.split = 1.0
    codes = [EAN, "96385074", "036000291452"]
    for code in codes:
        sim.scan(code, "]E4" if len(code) == 8 else "]E0")
    scans = collect(client, 3)
    assert [s.data for s in scans] == codes
    assert client.stats.rejected == 0


def test_duplicate_reads_are_reported_as_they_came(
    sim: ScannerSimulator, client: ScannerClient
) -> None:
    sim.faults.duplicate = 1.0
    sim.scan(EAN)
    sim.scan("96385074", "]E4")
    scans = collect(client, 4)
    # The driver does not guess: a double read is two reads; the till decides what it means.
    assert [s.data for s in scans] == [EAN, EAN, "96385074", "96385074"]


def test_stray_bytes_do_not_lose_reads(sim: ScannerSimulator, client: ScannerClient) -> None:
    sim.faults.stray = 1.0
    for _ in range(20):
        sim.scan(EAN)
    scans = collect(client, 20)
    # Noise bytes may form lines of their own (a stray CR), never a read with a GTIN.
    assert [s.gtin for s in scans if s.gtin] == [GTIN14] * 20


def test_corrupt_reads_are_rejected_and_later_reads_still_work(
    sim: ScannerSimulator, client: ScannerClient
) -> None:
    sim.faults.corrupt = 1.0
    for _ in range(20):
        sim.scan(EAN)
    scans = collect(client, 20, timeout=1.0)
    # A flipped bit never yields a wrong GTIN: the check digit or the AIM id catches it.
    assert all(s.gtin in (None, GTIN14) for s in scans)
    assert client.stats.rejected >= 10
    assert client.stats.last_error
    sim.faults.corrupt = 0.0
    # A corrupted suffix merges the line after it into a rejected one; then all is well.
    sim.scan(EAN)
    sim.scan("96385074", "]E4")
    later = collect(client, 2, timeout=1.0)
    assert later
    assert later[-1].gtin == "00000096385074"


def test_unplug_then_replug(tmp_path: Path) -> None:
    link = tmp_path / "usb-scanner"
    with ScannerSimulator(link=link) as sim, ScannerClient(str(link)) as client:
        sim.scan(EAN)
        assert [s.gtin for s in collect(client, 1)] == [GTIN14]

        sim.unplug()
        assert not link.exists()
        with pytest.raises(DeviceUnavailable):
            client.read(timeout=1.0)
        assert not client.is_open
        with pytest.raises(DeviceUnavailable):
            client.read(timeout=0.1)
        with pytest.raises(DeviceUnavailable):
            client.open()  # nothing there while unplugged
        assert sim.scan(EAN) is False  # scanning while unplugged goes nowhere

        sim.replug()
        client.open()
        sim.scan("96385074", "]E4")
        assert [s.gtin for s in collect(client, 1)] == ["00000096385074"]


def test_a_scanner_never_blocks_on_a_host_that_does_not_read() -> None:
    with ScannerSimulator() as sim:
        results = [sim.scan(EAN) for _ in range(2000)]
    assert results[0] is True
    assert sim.dropped > 0
    assert sim.sent + sim.dropped == 2000


def test_command_line_simulator() -> None:
    command = [sys.executable, "-m", "devices.scanner.simulator", "--gtin", EAN, "--every", "0.1"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            path = proc.stdout.readline().strip()
            assert path.startswith("/dev/")
            with ScannerClient(path) as client:
                scans = collect(client, 2)
            assert [s.gtin for s in scans] == [GTIN14, GTIN14]
        finally:
            proc.terminate()
            proc.wait(timeout=5)
    assert proc.returncode == 0
