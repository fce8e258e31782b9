"""What the agent calls to take reads from a barcode scanner in serial text mode.

    scanner = ScannerClient("/dev/serial/by-id/usb-Datalogic...", suffix=b"\\r\\n")
    scanner.open()
    for scan in scanner.read(timeout=0.5):   # [] when nobody scanned
        ...
    scanner.close()

``read`` raises ``DeviceUnavailable`` when the line is lost (the scanner was unplugged); the
caller closes, backs off and calls ``open()`` again. Rejected lines are not raised: they are
counted in ``stats`` (with the last reason), logged, and the reads after them go on.
"""

from __future__ import annotations

import logging
import time

from devices.errors import DeviceUnavailable
from devices.scanner.protocol import CR, DEFAULT_MAX_LINE, Rejected, Scan, ScanFramer
from devices.scanner.transport import ScannerLine
from devices.serialline import LineSettings
from devices.stats import DeviceStats

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how long one read of the line waits; bounds how late a deadline is noticed


class ScannerClient:
    """One scanner on one serial line. Not thread-safe: one owner calls ``read``."""

    def __init__(
        self,
        url: str,
        *,
        prefix: bytes = b"",
        suffix: bytes = CR,
        baudrate: int = 9600,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self.url = url
        self.stats = DeviceStats()
        self._framer = ScanFramer(prefix=prefix, suffix=suffix, max_line=max_line)
        self._line = ScannerLine(LineSettings(url=url, baudrate=baudrate, timeout_s=_POLL_S))

    @property
    def is_open(self) -> bool:
        return self._line.is_open

    def open(self) -> None:
        """Open the line (``DeviceUnavailable`` if it cannot be opened); a half line received
        before a disconnect is forgotten."""
        self._framer.reset()
        self._line.open()
        log.info("scanner on %s open", self.url)

    def close(self) -> None:
        self._line.close()

    def read(self, timeout: float) -> list[Scan]:
        """The reads that arrive within ``timeout`` seconds: returns as soon as a chunk of
        bytes completes at least one good read, or ``[]`` at the deadline."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                chunk = self._line.read()
            except DeviceUnavailable as exc:
                self.stats.last_error = str(exc)
                raise
            scans = self._decode(chunk) if chunk else []
            if scans or time.monotonic() >= deadline:
                return scans

    def _decode(self, chunk: bytes) -> list[Scan]:
        log.debug("scanner %s <- %s", self.url, chunk.hex(" "))
        scans: list[Scan] = []
        for item in self._framer.feed(chunk):
            if isinstance(item, Rejected):
                self.stats.reject(item.reason)
                log.warning("scanner %s: rejected read (%s)", self.url, item.reason)
            else:
                scans.append(item)
        if scans:
            self.stats.accepted(len(scans))
        return scans

    def __enter__(self) -> ScannerClient:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
