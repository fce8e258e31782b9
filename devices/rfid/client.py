"""``ChafonReader``: what the agent's device manager calls to take stock of a serial UHF reader.

    reader = ChafonReader("/dev/ttyUSB0")          # or a simulator's pty path, or socket://...
    reader.open()
    tags = reader.inventory(timeout=1.0)           # one inventory round -> [TagRead]
    reader.close()

Errors are the device family's (``devices.errors``): ``DeviceUnavailable`` when the port is
gone (reopen with backoff), ``DeviceTimeout`` when the reader did not answer at all (a dead
reader must show up as unavailable, not as an empty shelf), ``DeviceError`` when it answered
with an error status (an antenna off, say). Garbled frames are counted in ``stats`` and
skipped: a round that got only garbage returns what it could decode (often nothing), since
the reader is evidently alive and the next round usually gets through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from devices.errors import DeviceError, DeviceTimeout, DeviceUnavailable, FrameError
from devices.rfid.chafon import (
    BROADCAST_ADDRESS,
    CMD_INVENTORY,
    InventoryLayout,
    decode_inventory_reply,
    inventory_command,
)
from devices.rfid.reads import TagRead
from devices.rfid.transport import ChafonTransport
from devices.stats import DeviceStats

log = logging.getLogger(__name__)


class ChafonReader:
    """One Chafon-family reader on a serial line (or a serial-to-Ethernet converter).

    ``address`` is the reader's bus address (0xFF broadcasts: any one reader answers).
    ``antenna_map`` renames the reader's 1-based antenna numbers (e.g. ``{1: 3}`` when this
    reader's only port is the shop's antenna 3). ``layout`` says whether the reader sends an
    antenna byte and RSSI per tag (UHFReader288 style) or not (UHFReader18 style).
    """

    def __init__(
        self,
        url: str,
        *,
        address: int = 0x00,
        baudrate: int = 57600,
        antenna_map: Mapping[int, int] | None = None,
        layout: InventoryLayout = InventoryLayout.BASIC,
        reader_id: str | None = None,
        round_timeout_s: float = 2.0,
    ) -> None:
        if not 0 <= address <= 0xFF:
            raise ValueError("address is one byte")
        self.address = address
        self.layout = layout
        self.reader_id = reader_id or f"chafon:{url}@{address:02X}"
        self.antenna_map = dict(antenna_map or {})
        self.round_timeout_s = round_timeout_s
        self.stats = DeviceStats()
        #: Inventory rounds that ended at the deadline without the reader's final frame.
        self.incomplete_rounds = 0
        self._transport = ChafonTransport(url, baudrate)

    @property
    def is_open(self) -> bool:
        return self._transport.is_open

    def open(self) -> None:
        self._transport.open()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> ChafonReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, timeout: float) -> list[TagRead]:
        """One inventory round (the device manager's polling loop calls this).

        Waits at least ``round_timeout_s``: a real reader answers only when its scan time
        (1 s by default on UHFReader18-style readers) is over, whatever the caller's poll
        interval.
        """
        return self.inventory(max(timeout, self.round_timeout_s))

    def inventory(self, timeout: float) -> list[TagRead]:
        """Ask the reader which tags are in its field; every tag once per antenna.

        Waits up to ``timeout`` seconds for the reader's final reply frame. If the deadline
        passes after some reply frames arrived, returns the tags those carried.
        """
        if not self._transport.is_open:
            raise DeviceUnavailable(f"{self.reader_id} is not open")
        self._transport.send_command(inventory_command(self.address))
        deadline = time.monotonic() + timeout
        found: dict[tuple[str, int], TagRead] = {}
        answered = False
        rejected = False
        while time.monotonic() < deadline:
            for item in self._transport.receive():
                if isinstance(item, FrameError):
                    rejected = self._reject(str(item))
                    continue
                if item.command != CMD_INVENTORY or (
                    self.address != BROADCAST_ADDRESS and item.address != self.address
                ):
                    rejected = self._reject(
                        f"unexpected frame: command 0x{item.command:02X}"
                        f" from address 0x{item.address:02X}"
                    )
                    continue
                try:
                    reply = decode_inventory_reply(item, self.layout)
                except FrameError as exc:
                    rejected = self._reject(str(exc))
                    continue
                self.stats.accepted()
                answered = True
                if reply.error is not None:
                    raise DeviceError(f"{self.reader_id}: reader reports {reply.error}")
                now = datetime.now(UTC)
                antenna = self.antenna_map.get(reply.antenna, reply.antenna)
                for tag in reply.tags:
                    read = TagRead(tag.epc.hex().upper(), antenna, tag.rssi, self.reader_id, now)
                    found.setdefault((read.epc_hex, antenna), read)
                if reply.final:
                    return list(found.values())
        if not answered and not rejected:
            raise DeviceTimeout(f"{self.reader_id}: no reply to inventory within {timeout}s")
        self.incomplete_rounds += 1
        log.debug(
            "%s: inventory round incomplete after %.1fs (%d tags)",
            self.reader_id,
            timeout,
            len(found),
        )
        return list(found.values())

    def _reject(self, reason: str) -> bool:
        self.stats.reject(reason)
        log.debug("%s: rejected %s", self.reader_id, reason)
        return True
