"""``ReceiptPrinter``: what the store agent calls to print a receipt with its QR code.

    printer = ReceiptPrinter("192.168.1.40")
    printer.print_receipt(receipt)       # one TCP connection per job, like any raw-port client

Before sending a job the client asks the printer for its paper sensor (``DLE EOT 4``, answered
at once by Epson-compatible printers even on the raw port). Without that question a printer
that is out of paper takes the job into its buffer and prints nothing, and the customer's
receipt is silently lost; with it, ``print_receipt`` raises ``DeviceError`` ("out of paper")
and sends nothing, so the agent can tell staff and offer the digital receipt instead. For a
printer that does not answer status requests, pass ``check_paper=False``.

Errors (all from ``devices.errors``): ``DeviceUnavailable`` (cannot connect, connection lost),
``DeviceTimeout`` (no status answer, or the printer stopped taking data), ``DeviceError``
(out of paper), ``FrameError`` (the QR url cannot be a QR code; raised before connecting).
After ``DeviceUnavailable`` or ``DeviceTimeout`` mid-job the receipt may or may not have
printed. Successful jobs and failures are counted in ``stats``.
"""

from __future__ import annotations

import logging
import threading

from devices.errors import DeviceError
from devices.printer.protocol import (
    PAPER_STATUS_REQUEST,
    PaperStatus,
    Receipt,
    decode_paper_status,
    encode_receipt,
)
from devices.printer.transport import RAW_PORT, RawPrintConnection
from devices.stats import DeviceStats

log = logging.getLogger(__name__)


class ReceiptPrinter:
    """One ESC/POS printer on the network. Thread-safe: jobs are sent one at a time."""

    def __init__(
        self,
        host: str,
        port: int = RAW_PORT,
        *,
        timeout_s: float = 3.0,
        width: int = 42,
        check_paper: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.width = width
        self.check_paper = check_paper
        self.stats = DeviceStats()
        self.paper = PaperStatus.PRESENT  # as last reported
        self._jobs = threading.Lock()

    def print_receipt(self, receipt: Receipt) -> None:
        """Print ``receipt`` and return once the printer has taken the whole job."""
        job = encode_receipt(receipt, width=self.width)
        with self._jobs:
            try:
                self._send_job(job)
            except DeviceError as exc:
                self.stats.reject(str(exc))
                raise
        self.stats.accepted()

    def _send_job(self, job: bytes) -> None:
        with RawPrintConnection(self.host, self.port, timeout_s=self.timeout_s) as conn:
            if self.check_paper:
                conn.send(PAPER_STATUS_REQUEST)
                self.paper = decode_paper_status(conn.receive(1)[0])
                if self.paper is PaperStatus.OUT:
                    raise DeviceError(f"printer {conn.where} is out of paper")
                if self.paper is PaperStatus.NEAR_END:
                    log.warning("printer %s: paper near its end", conn.where)
            conn.send(job)
            if not conn.finish():
                log.debug("printer %s kept the connection open after the job", conn.where)
