"""The scanner's line: a ``SerialLine`` (``/dev/ttyACM0``, a by-id symlink, a simulator's pty
or ``socket://``). Scanners only talk: the host never writes in text mode, so the transport
is a read-only byte source whose failures are already ``DeviceUnavailable``."""

from __future__ import annotations

from devices.serialline import LineSettings, SerialLine


class ScannerLine:
    """Opens the scanner's port and hands over whatever bytes have arrived."""

    def __init__(self, settings: LineSettings) -> None:
        self.settings = settings
        self._line = SerialLine(settings)

    @property
    def is_open(self) -> bool:
        return self._line.is_open

    def open(self) -> None:
        self._line.open()

    def close(self) -> None:
        self._line.close()

    def read(self) -> bytes:
        """Bytes that arrived, waiting up to the line's read timeout (b"" if none).
        Raises ``DeviceUnavailable`` when the port is not open or was lost."""
        return self._line.read()
