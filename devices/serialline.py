"""The one module of ``devices`` that imports pyserial: open a line by URL, read, write.

URLs go through ``serial.serial_for_url``, so ``/dev/ttyUSB0``, a pty path from a simulator
and ``socket://host:port`` (a serial-to-Ethernet converter, or a simulator on TCP) all work the
same. pyserial's exceptions become ``DeviceUnavailable``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import serial

from devices.errors import DeviceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LineSettings:
    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    #: Read timeout: how long one ``read`` waits for the first byte.
    timeout_s: float = 0.1


class SerialLine:
    """A byte pipe to one device. Not thread-safe: one owner per line."""

    def __init__(self, settings: LineSettings) -> None:
        self.settings = settings
        self._port: serial.SerialBase | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    def open(self) -> None:
        s = self.settings
        try:
            self._port = serial.serial_for_url(
                s.url,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                timeout=s.timeout_s,
                write_timeout=1.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open {s.url}: {exc}") from exc

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                log.debug("error closing %s", self.settings.url, exc_info=True)
            self._port = None

    def read(self, size: int = 4096) -> bytes:
        """What has arrived, waiting at most the read timeout for the first byte (b"" if none)."""
        port = self._require()
        try:
            waiting = port.in_waiting
            data: bytes = port.read(max(1, min(size, waiting or 1)))
            if data and waiting == 0 and port.in_waiting:
                data += port.read(min(size, port.in_waiting))
            return data
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.settings.url}: {exc}") from exc

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.settings.url}: {exc}") from exc

    def discard_input(self) -> int:
        """Drop stale bytes (a late reply to an earlier command); return how many."""
        port = self._require()
        try:
            stale = port.in_waiting
            port.reset_input_buffer()
            return int(stale)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.settings.url}: {exc}") from exc

    def _require(self) -> serial.SerialBase:
        if self._port is None:
            raise DeviceUnavailable(f"{self.settings.url} is not open")
        return self._port
