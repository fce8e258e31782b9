"""The byte pipe to a Chafon reader: a ``SerialLine`` plus the one habit this protocol needs.

The protocol has no sequence numbers, so a reply that arrives after its command timed out
(or a duplicate of the last reply frame, which flaky readers and converters send) would pass
for the answer to the next command. ``send_command`` therefore waits until the line has been
quiet for a moment, throws away whatever came in, and only then writes.
Errors arrive already translated by ``SerialLine`` (``DeviceUnavailable``).
"""

from __future__ import annotations

import logging
import time

from devices.errors import FrameError
from devices.rfid.chafon import ChafonFrame, ChafonFramer
from devices.serialline import LineSettings, SerialLine

log = logging.getLogger(__name__)

# Short reads keep the client's deadline accurate; frames are at most 256 bytes.
_READ_TIMEOUT_S = 0.02
# Silence that ends a reply burst: longer than the gaps inside one (a USB-serial adapter
# batches for up to ~16 ms), far shorter than a reader's scan time.
QUIET_S = 0.03


class ChafonTransport:
    """Owns the serial line and the framer for one reader bus. Not thread-safe."""

    def __init__(self, url: str, baudrate: int = 57600, *, quiet_s: float = QUIET_S) -> None:
        self.url = url
        self.quiet_s = quiet_s
        self._last_rx = 0.0  # monotonic time of the last byte received
        self._line = SerialLine(LineSettings(url, baudrate=baudrate, timeout_s=_READ_TIMEOUT_S))
        self._framer = ChafonFramer()

    @property
    def is_open(self) -> bool:
        return self._line.is_open

    def open(self) -> None:
        self._line.open()
        self._framer.clear()

    def close(self) -> None:
        self._line.close()
        self._framer.clear()

    def send_command(self, command: bytes) -> int:
        """Drop stale input, then write ``command``; returns how many stale bytes were dropped."""
        stale = self._framer.pending
        self._framer.clear()
        quiet_until = self._last_rx + self.quiet_s
        while time.monotonic() < quiet_until:
            late = self._line.read()
            if late:
                stale += len(late)
                self._last_rx = time.monotonic()
                quiet_until = self._last_rx + self.quiet_s
        stale += self._line.discard_input()
        if stale:
            log.debug("%s: dropped %d stale bytes before the command", self.url, stale)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s", self.url, command.hex(" "))
        self._line.write(command)
        return stale

    def receive(self) -> list[ChafonFrame | FrameError]:
        """Frames (and rejections) completed by what arrives within one short read."""
        data = self._line.read()
        if not data:
            return []
        self._last_rx = time.monotonic()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", self.url, data.hex(" "))
        return self._framer.feed(data)
