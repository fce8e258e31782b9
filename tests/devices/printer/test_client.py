"""ReceiptPrinter against PrinterSimulator over a real TCP socket on 127.0.0.1: what comes out
of the printer, and what the agent sees when the printer is off, out of paper or slow.

Paper out is reported, not swallowed: the client asks the printer's paper sensor before each
job (DLE EOT 4) and raises ``DeviceError`` without sending anything, because a printer with an
empty roll takes a job and prints nothing. With ``check_paper=False`` that loss is silent
(the simulator counts it in ``dropped_jobs``), which is why the check is on by default.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.errors import DeviceError, DeviceTimeout, DeviceUnavailable, FrameError
from devices.printer.client import ReceiptPrinter
from devices.printer.protocol import Receipt
from devices.printer.simulator import PrinterSimulator

ROOT = Path(__file__).resolve().parents[3]
RECEIPT = Receipt(
    store_name="StoreLink Market",
    lines=(("Milk 1L", 2, 199), ("Sourdough bread", 1, 350)),
    total_cents=748,
    receipt_id="R-0001",
    qr_url="https://r.example/1",
)


@pytest.fixture
def sim() -> Iterator[PrinterSimulator]:
    with PrinterSimulator() as simulator:
        yield simulator


@pytest.fixture
def printer(sim: PrinterSimulator) -> ReceiptPrinter:
    return ReceiptPrinter("127.0.0.1", sim.port, timeout_s=1.0)


def test_a_receipt_comes_out_with_its_qr_code(
    sim: PrinterSimulator, printer: ReceiptPrinter
) -> None:
    printer.print_receipt(RECEIPT)
    [job] = sim.printed  # the client returns once the printer has the whole job
    assert job.qr == "https://r.example/1"
    assert job.cut
    assert not job.rejected
    assert "StoreLink Market" in job.lines
    assert "Receipt R-0001" in job.lines
    assert any(line.startswith("TOTAL") and line.endswith("7.48") for line in job.lines)
    assert printer.stats.frames == 1
    assert printer.stats.rejected == 0


def test_one_connection_per_job(sim: PrinterSimulator, printer: ReceiptPrinter) -> None:
    for number in range(3):
        printer.print_receipt(
            Receipt("S", (("Gum", 1, 100),), 100, f"R-{number}", f"https://r.example/{number}")
        )
    assert [job.qr for job in sim.printed] == [f"https://r.example/{n}" for n in range(3)]
    assert sim.connections == 3


def test_offline_printer_is_unavailable_and_comes_back(
    sim: PrinterSimulator, printer: ReceiptPrinter
) -> None:
    sim.offline = True
    with pytest.raises(DeviceUnavailable, match="cannot connect"):
        printer.print_receipt(RECEIPT)
    assert printer.stats.rejected == 1
    assert "cannot connect" in printer.stats.last_error
    sim.offline = False
    printer.print_receipt(RECEIPT)
    assert len(sim.printed) == 1


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeviceUnavailable):
        ReceiptPrinter("127.0.0.1", port, timeout_s=0.5).print_receipt(RECEIPT)


def test_paper_out_is_reported_and_nothing_is_sent(
    sim: PrinterSimulator, printer: ReceiptPrinter
) -> None:
    sim.paper_out = True
    with pytest.raises(DeviceError, match="out of paper") as caught:
        printer.print_receipt(RECEIPT)
    assert type(caught.value) is DeviceError  # not "unavailable": the printer is there
    assert sim.printed == []
    assert sim.dropped_jobs == 0  # the job never left the client
    sim.paper_out = False
    printer.print_receipt(RECEIPT)
    assert len(sim.printed) == 1


def test_without_the_paper_check_a_paper_out_job_is_lost_silently(
    sim: PrinterSimulator,
) -> None:
    sim.paper_out = True
    ReceiptPrinter("127.0.0.1", sim.port, timeout_s=1.0, check_paper=False).print_receipt(RECEIPT)
    assert sim.printed == []
    assert sim.dropped_jobs == 1


def test_a_printer_too_slow_to_answer_times_out(
    sim: PrinterSimulator, printer: ReceiptPrinter
) -> None:
    sim.slow_s = 0.2
    with pytest.raises(DeviceTimeout):
        ReceiptPrinter("127.0.0.1", sim.port, timeout_s=0.1).print_receipt(RECEIPT)
    sim.slow_s = 0.01
    printer.print_receipt(RECEIPT)  # slow but within the deadline
    assert [job.qr for job in sim.wait_printed(1)] == ["https://r.example/1"]


def test_a_url_that_cannot_be_a_qr_code_fails_before_connecting(
    sim: PrinterSimulator, printer: ReceiptPrinter
) -> None:
    with pytest.raises(FrameError):
        printer.print_receipt(Receipt("S", (), 0, "R", "https://r.example/" + "x" * 3000))
    assert sim.connections == 0


def test_garbage_on_the_raw_port_is_reported_by_the_simulator(sim: PrinterSimulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=1.0) as conn:
        conn.sendall(b"\x1b@hello\n\x1bZ\x01junk")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(16) == b""  # the simulator closes once it has the job
    [job] = sim.printed
    assert job.lines == ("hello",)
    assert [r.reason for r in job.rejected] == ["unknown command ESC 0x5A at 8"]
    assert not job.cut


def test_the_simulator_runs_as_a_program() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devices.printer.simulator"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        ReceiptPrinter("127.0.0.1", port, timeout_s=2.0).print_receipt(RECEIPT)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
