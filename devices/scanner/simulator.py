"""A simulated barcode scanner on a pty, for tests and the demo.

    python -m devices.scanner.simulator --gtin 4006381333931 --every 2 [--link /tmp/scanner0]

prints the path a driver opens (``ScannerClient(path)``) and sends a read of each GTIN in turn
every ``--every`` seconds until Ctrl-C. Reads are built with the same ``encode_scan`` the
driver's framer undoes, and go through ``FaultyWire``, so the ``Faults`` knobs apply: split
(a read in two chunks), duplicate (the same read twice, as a scanner with a bouncing trigger
does), stray (noise bytes first), corrupt (a flipped bit: bad check digit, garbage, or a lost
suffix that merges two lines).

Unplugging, as a driver sees it: ``unplug()`` closes the pty, so the driver's next read fails
(the tty is hung up) and reopening the old path fails, like a USB scanner pulled out.
``replug()`` makes a new pty; its path may differ, the way ``/dev/ttyACM0`` becomes
``ttyACM1``. With ``link=`` the simulator keeps a symlink to the current pty, which disappears
while unplugged, like ``/dev/serial/by-id/...``: a driver configured with the link reconnects
by reopening the same URL.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
from pathlib import Path

from devices.scanner.protocol import CR, CRLF, encode_scan
from devices.simkit import (
    Faults,
    FaultyWire,
    PtyPair,
    add_fault_options,
    faults_from,
    stop_requested,
)

log = logging.getLogger(__name__)


class ScannerSimulator:
    """A scanner that sends reads on the device end of a pty. Close it when done."""

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        suffix: bytes = CR,
        prefix: bytes = b"",
        link: str | os.PathLike[str] | None = None,
    ) -> None:
        self.faults = faults or Faults()
        self.suffix = suffix
        self.prefix = prefix
        self.link = Path(link) if link is not None else None
        self._pty: PtyPair | None = None
        self._wire: FaultyWire | None = None
        self.sent = 0
        self.dropped = 0
        self.replug()

    @property
    def path(self) -> str:
        """The pty path a driver opens (or the link, when one was asked for)."""
        if self._pty is None:
            raise RuntimeError("the scanner is unplugged")
        return str(self.link) if self.link is not None else self._pty.path

    @property
    def pty_path(self) -> str | None:
        return None if self._pty is None else self._pty.path

    @property
    def plugged(self) -> bool:
        return self._pty is not None

    def scan(self, data: str | bytes, symbology: str = "]E0") -> bool:
        """Send one read (``symbology`` is the AIM id, "" for none). False if it went nowhere:
        the scanner is unplugged, or the host has not read the earlier ones (pty full)."""
        if self._wire is None:
            self.dropped += 1
            return False
        frame = encode_scan(data, symbology, prefix=self.prefix, suffix=self.suffix)
        try:
            self._wire.send(frame)
        except BlockingIOError:
            self.dropped += 1
            log.debug("host is not reading; read dropped")
            return False
        self.sent += 1
        return True

    def send_raw(self, data: bytes) -> None:
        """Bytes exactly as given, no faults (for tests that script the wire)."""
        if self._pty is None:
            raise RuntimeError("the scanner is unplugged")
        os.write(self._pty.device_fd, data)

    def unplug(self) -> None:
        """Pull the cable: close the pty and remove the link."""
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        if self._pty is not None:
            self._pty.close()
        self._pty = None
        self._wire = None

    def replug(self) -> None:
        """Plug back in: a new pty (maybe a new path), the link pointed at it."""
        self.unplug()
        pty = PtyPair()
        # A scanner does not wait for a host that is not reading: reads are lost, not queued.
        flags = fcntl.fcntl(pty.device_fd, fcntl.F_GETFL)
        fcntl.fcntl(pty.device_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._pty = pty
        self._wire = FaultyWire(pty.device_fd, self.faults)
        if self.link is not None:
            self.link.symlink_to(pty.path)

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> ScannerSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A simulated barcode scanner on a pty.")
    parser.add_argument("--gtin", action="append", help="GTIN to scan (repeatable)")
    parser.add_argument("--aim", default="]E0", help="AIM symbology id sent before the data")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between reads")
    parser.add_argument("--crlf", action="store_true", help="end reads with CR LF, not CR")
    parser.add_argument("--prefix", default="", help="prefix sent before each read")
    parser.add_argument("--link", help="keep a symlink to the pty here (like /dev/serial/by-id)")
    add_fault_options(parser, commands=False)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    faults = faults_from(args)
    codes = args.gtin or ["4006381333931"]
    stop = stop_requested()
    with ScannerSimulator(
        faults, suffix=CRLF if args.crlf else CR, prefix=args.prefix.encode(), link=args.link
    ) as scanner:
        print(scanner.path, flush=True)
        count = 0
        while not stop.wait(args.every):
            code = codes[count % len(codes)]
            count += 1
            sent = scanner.scan(code, args.aim)
            log.info("scan %s%s", code, "" if sent else " (dropped: nobody reading)")


if __name__ == "__main__":
    main()
