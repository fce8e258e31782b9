"""The RS485 line to a chain of lock boards, over ``SerialLine`` (the client's only I/O).

One ``LockerLine`` belongs to one ``LockerBoard`` worker thread: RS485 is half duplex and
shared, so only one party may talk at a time. Errors arrive as ``DeviceUnavailable`` from
``SerialLine``; nothing here retries.
"""

from __future__ import annotations

import logging
import time

from devices.serialline import LineSettings, SerialLine

log = logging.getLogger(__name__)

BAUDRATE = 19200


class LockerLine:
    """Open on demand, drop stale bytes before a command, send a frame, read in short slices."""

    def __init__(self, url: str, *, baudrate: int = BAUDRATE, read_slice_s: float = 0.02) -> None:
        self.url = url
        self._line = SerialLine(LineSettings(url=url, baudrate=baudrate, timeout_s=read_slice_s))

    @property
    def is_open(self) -> bool:
        return self._line.is_open

    def ensure_open(self) -> None:
        if not self._line.is_open:
            self._line.open()
            log.info("locker line %s open", self.url)

    def close(self) -> None:
        self._line.close()

    def settle(self, quiet_s: float, max_s: float = 0.25) -> int:
        """Throw away whatever is waiting (a late reply, a duplicate, noise) and wait until the
        line has been quiet for ``quiet_s``, so the next reply read is the answer to the next
        request. Returns how many stale bytes were dropped."""
        dropped = self._line.discard_input()
        deadline = time.monotonic() + max_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            chunk = self._line.read()
            now = time.monotonic()
            if chunk:
                dropped += len(chunk)
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                break
        if dropped:
            log.debug("locker line %s: dropped %d stale bytes", self.url, dropped)
        return dropped

    def send(self, frame: bytes) -> None:
        log.debug("locker line %s >> %s", self.url, frame.hex(" "))
        self._line.write(frame)

    def read(self) -> bytes:
        """What has arrived, waiting at most one read slice (b"" if nothing)."""
        data = self._line.read()
        if data:
            log.debug("locker line %s << %s", self.url, data.hex(" "))
        return data
