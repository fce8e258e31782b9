"""The TCP connection to a printer's raw port (9100, "JetDirect"): the only socket code the
printer client uses.

One connection carries one job: connect, send, half-close, wait for the printer to close its
side. Socket errors become ``DeviceUnavailable`` (cannot connect, connection lost) or
``DeviceTimeout`` (the printer stopped taking data or did not answer in time).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time

from devices.errors import DeviceTimeout, DeviceUnavailable

log = logging.getLogger(__name__)

RAW_PORT = 9100


class RawPrintConnection:
    """One job's connection. Not thread-safe; use as a context manager so it always closes."""

    def __init__(self, host: str, port: int = RAW_PORT, *, timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def open(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:  # refused, unreachable, DNS, connect timeout
            raise DeviceUnavailable(f"printer {self.where}: cannot connect: {exc}") from exc

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RawPrintConnection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise DeviceUnavailable(f"printer {self.where}: not connected")
        return self._sock

    def send(self, data: bytes) -> None:
        """All of ``data`` within ``timeout_s`` (a printer out of paper may stop reading)."""
        sock = self._socket()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("printer %s <- %d bytes: %s", self.where, len(data), data[:64].hex(" "))
        try:
            sock.sendall(data)
        except TimeoutError as exc:
            raise DeviceTimeout(f"printer {self.where} stopped taking data") from exc
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.where}: connection lost: {exc}") from exc

    def receive(self, count: int) -> bytes:
        """Exactly ``count`` bytes (a status answer) within ``timeout_s``."""
        sock = self._socket()
        received = b""
        deadline = time.monotonic() + self.timeout_s
        try:
            while len(received) < count:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(count - len(received))
                if not chunk:
                    raise DeviceUnavailable(f"printer {self.where} closed the connection")
                received += chunk
        except TimeoutError as exc:
            raise DeviceTimeout(f"printer {self.where} did not answer in time") from exc
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.where}: connection lost: {exc}") from exc
        finally:
            sock.settimeout(self.timeout_s)
        log.debug("printer %s -> %s", self.where, received.hex(" "))
        return received

    def finish(self) -> bool:
        """Half-close and wait up to ``timeout_s`` for the printer to close its side (it has
        then read the whole job). False if it did not; the job was still sent."""
        sock = self._socket()
        deadline = time.monotonic() + self.timeout_s
        try:
            sock.shutdown(socket.SHUT_WR)
            while time.monotonic() < deadline:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                if not sock.recv(256):  # late status bytes are of no interest now
                    return True
        except TimeoutError:
            pass
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.where}: connection lost: {exc}") from exc
        with contextlib.suppress(OSError):
            sock.settimeout(self.timeout_s)
        return False
