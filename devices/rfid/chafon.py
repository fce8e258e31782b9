"""The serial protocol of Chafon-family UHF readers ("UHFReader18", "UHFReader288", CF-RU5102...).

Pure bytes in, frames out: the client (``client.py``) and the simulator (``simulator.py``) both
use this module, so they cannot disagree about the wire. Frames::

    command  (host -> reader)
    +-----+-----+-----+----------+-------+-------+
    | Len | Adr | Cmd | Data ... | CRC_L | CRC_H |
    +-----+-----+-----+----------+-------+-------+

    response (reader -> host)
    +-----+-----+-------+--------+----------+-------+-------+
    | Len | Adr | reCmd | Status | Data ... | CRC_L | CRC_H |
    +-----+-----+-------+--------+----------+-------+-------+

``Len`` counts the bytes after itself (Adr .. CRC_H), so a frame is ``Len + 1`` bytes long.
The CRC is CRC-16/MCRF4XX (init 0xFFFF, reflected polynomial 0x8408, no final xor) over
Len .. Data, sent low byte first. The inventory command with no options is ``04 00 01 DB 4B``.

The inventory reply's Data comes in two layouts::

    UHFReader18 (BASIC):              Num  { EPC-len  EPC ... }            x Num
    UHFReader288 (ANTENNA_RSSI):  Ant  Num  { EPC-len  EPC ...  RSSI }     x Num

EPC-len counts bytes; ``Ant`` is a bit mask (0x04 = antenna 3). Status 0x01 means the
inventory finished, 0x02 the reader's scan time ran out, 0x04 its memory filled up (both:
what it found so far, and nothing more is coming), 0x03 more frames follow, 0xFB no tag in
the field. Anything else is an error status of the reader.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devices.errors import FrameError

CMD_INVENTORY = 0x01
BROADCAST_ADDRESS = 0xFF

STATUS_INVENTORY_DONE = 0x01
STATUS_SCAN_TIME_OVERFLOW = 0x02
STATUS_MORE_DATA = 0x03
STATUS_MEMORY_FULL = 0x04
STATUS_NO_TAG = 0xFB

_INVENTORY_STATUSES = frozenset(
    {STATUS_INVENTORY_DONE, STATUS_SCAN_TIME_OVERFLOW, STATUS_MORE_DATA, STATUS_MEMORY_FULL}
)
_FIELD_STATUSES = frozenset({STATUS_NO_TAG, 0xFA, 0xFC})
ERROR_STATUSES: dict[int, str] = {
    0xF8: "antenna error (antenna disconnected?)",
    0xF9: "command execution error",
    0xFA: "tag found but communication too poor",
    0xFC: "tag returned an error code",
    0xFD: "command length wrong",
    0xFE: "illegal command (or a CRC error on the command)",
    0xFF: "parameter error",
}

MIN_LEN = 4  # Adr Cmd CRC_L CRC_H: a command with no data
MAX_FRAME = 256  # Len is one byte


class InventoryLayout(enum.Enum):
    """How a reader lays out tags in its inventory reply (see the module docstring)."""

    BASIC = "uhfreader18"
    ANTENNA_RSSI = "uhfreader288"


@dataclass(frozen=True, slots=True)
class ChafonFrame:
    """One frame either way; for a response ``data`` starts with the Status byte."""

    address: int
    command: int
    data: bytes = b""

    @property
    def status(self) -> int:
        """The Status byte of a response frame."""
        if not self.data:
            raise FrameError(f"frame for command 0x{self.command:02X} carries no status byte")
        return self.data[0]


@dataclass(frozen=True, slots=True)
class InventoryTag:
    epc: bytes
    rssi: int | None = None


@dataclass(frozen=True, slots=True)
class InventoryReply:
    """One inventory reply frame: some (or all) of the tags the reader found."""

    address: int
    status: int
    tags: tuple[InventoryTag, ...]
    antenna: int = 1

    @property
    def final(self) -> bool:
        """No more frames follow for this inventory round."""
        return self.status != STATUS_MORE_DATA

    @property
    def error(self) -> str | None:
        """What is wrong with the reader, when the status says so.

        "No tag", and the tag-level statuses (a tag too far away to talk to, a tag's own error
        code), are not: they describe the field, and the next round may well differ.
        """
        if self.status in _INVENTORY_STATUSES or self.status in _FIELD_STATUSES:
            return None
        return ERROR_STATUSES.get(self.status, f"unknown status 0x{self.status:02X}")


# CRC-16/MCRF4XX is CRC-16/CCITT with every byte and the result bit-reversed, and the C
# implementation of CCITT (``binascii.crc_hqx``) is ~6x faster than a table loop in Python:
# the framer checks a CRC for every byte of line noise, so this is its hot path.
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def crc16_mcrf4xx(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MCRF4XX (init 0xFFFF, reflected poly 0x8408, no final xor) of ``data``."""
    ccitt = binascii.crc_hqx(bytes(data).translate(_REVERSED_BITS), 0xFFFF)
    return _REVERSED_BITS[ccitt & 0xFF] << 8 | _REVERSED_BITS[ccitt >> 8]


def encode_frame(frame: ChafonFrame) -> bytes:
    """``Len Adr Cmd Data CRC_L CRC_H`` for ``frame``."""
    length = len(frame.data) + 4
    if length >= MAX_FRAME:
        raise ValueError(f"frame data too long ({len(frame.data)} bytes)")
    if not (0 <= frame.address <= 0xFF and 0 <= frame.command <= 0xFF):
        raise ValueError("address and command are single bytes")
    body = bytes([length, frame.address, frame.command]) + frame.data
    return body + crc16_mcrf4xx(body).to_bytes(2, "little")


def encode_command(address: int, command: int, data: bytes = b"") -> bytes:
    return encode_frame(ChafonFrame(address, command, data))


def inventory_command(address: int = 0x00) -> bytes:
    """The inventory command with the reader's default options: ``04 00 01 DB 4B`` at 0x00."""
    return encode_command(address, CMD_INVENTORY)


def decode_frame(raw: bytes) -> ChafonFrame:
    """Exactly one frame; ``FrameError`` with the reason when the bytes are not one."""
    if len(raw) < MIN_LEN + 1:
        raise FrameError(f"frame too short ({len(raw)} bytes)")
    if raw[0] < MIN_LEN:
        raise FrameError(f"length byte {raw[0]} below the minimum {MIN_LEN}")
    if raw[0] != len(raw) - 1:
        raise FrameError(f"length byte says {raw[0]} bytes follow, {len(raw) - 1} do")
    expected = crc16_mcrf4xx(raw[:-2])
    received = int.from_bytes(raw[-2:], "little")
    if expected != received:
        raise FrameError(f"bad CRC: frame has 0x{received:04X}, computed 0x{expected:04X}")
    return ChafonFrame(address=raw[1], command=raw[2], data=bytes(raw[3:-2]))


def decode_inventory_reply(
    frame: ChafonFrame, layout: InventoryLayout = InventoryLayout.BASIC
) -> InventoryReply:
    """The tags in an inventory reply frame; ``FrameError`` if its Data does not add up."""
    if frame.command != CMD_INVENTORY:
        raise FrameError(f"not an inventory reply (command 0x{frame.command:02X})")
    status = frame.status
    data = frame.data[1:]
    if status not in _INVENTORY_STATUSES:
        # No tag, or an error status: no tag list follows (some firmware sends a zero count).
        return InventoryReply(frame.address, status, ())
    antenna = 1
    if layout is InventoryLayout.ANTENNA_RSSI:
        if not data:
            raise FrameError("inventory reply without antenna byte")
        antenna = _antenna_number(data[0])
        data = data[1:]
    if not data:
        raise FrameError("inventory reply without tag count")
    count, pos = data[0], 1
    trailer = 1 if layout is InventoryLayout.ANTENNA_RSSI else 0
    tags: list[InventoryTag] = []
    for i in range(count):
        if pos >= len(data):
            raise FrameError(f"inventory reply announces {count} tags but carries {i}")
        epc_len = data[pos]
        end = pos + 1 + epc_len
        if end + trailer > len(data):
            raise FrameError(f"tag {i + 1}: EPC of {epc_len} bytes runs past the frame")
        rssi = data[end] if trailer else None
        tags.append(InventoryTag(epc=bytes(data[pos + 1 : end]), rssi=rssi))
        pos = end + trailer
    if pos != len(data):
        raise FrameError(f"{len(data) - pos} bytes left over after {count} tags")
    return InventoryReply(frame.address, status, tuple(tags), antenna)


def encode_inventory_replies(
    address: int,
    tags: Sequence[InventoryTag],
    layout: InventoryLayout = InventoryLayout.BASIC,
    *,
    antenna: int = 1,
) -> list[bytes]:
    """The frames a reader sends for one inventory round (the simulator's side).

    As many tags per frame as fit in a one-byte length; every frame but the last has status
    "more data". No tags gives a single "no tag operable" frame.
    """
    if not tags:
        return [encode_frame(ChafonFrame(address, CMD_INVENTORY, bytes([STATUS_NO_TAG])))]
    head = bytes([1 << (antenna - 1)]) if layout is InventoryLayout.ANTENNA_RSSI else b""
    room = MAX_FRAME - 1 - 4 - 1 - len(head) - 1  # Len; Adr Cmd CRC; Status; head; Num
    groups: list[list[bytes]] = [[]]
    used = 0
    for tag in tags:
        entry = bytes([len(tag.epc)]) + tag.epc
        if layout is InventoryLayout.ANTENNA_RSSI:
            entry += bytes([tag.rssi if tag.rssi is not None else 0])
        if len(entry) > room:
            raise ValueError(f"EPC of {len(tag.epc)} bytes does not fit in a frame")
        if used + len(entry) > room:
            groups.append([])
            used = 0
        groups[-1].append(entry)
        used += len(entry)
    frames = []
    for i, group in enumerate(groups):
        status = STATUS_INVENTORY_DONE if i == len(groups) - 1 else STATUS_MORE_DATA
        data = bytes([status]) + head + bytes([len(group)]) + b"".join(group)
        frames.append(encode_frame(ChafonFrame(address, CMD_INVENTORY, data)))
    return frames


def _antenna_number(mask: int) -> int:
    """Antenna bit mask (0x01, 0x02, 0x04, 0x08...) to 1-based antenna number."""
    if mask == 0 or mask & (mask - 1):
        raise FrameError(f"antenna byte 0x{mask:02X} is not a single antenna")
    return mask.bit_length()


class ChafonFramer:
    """Finds frames in a byte stream that may be split, duplicated, corrupted or noisy.

    ``feed(data)`` returns what the new bytes completed, in order: ``ChafonFrame``s, and a
    ``FrameError`` for each stretch of bytes that had to be thrown away (one per stretch, not
    one per byte). It never raises. A candidate whose length byte or CRC is wrong loses its
    first byte and the search goes on from the next one; a valid frame further on is found
    even while a bogus length byte at the front still waits for bytes that will never come.
    Each candidate position is checked once, so noise costs at most one CRC per byte.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream position of _buffer[0]
        self._bad: set[int] = set()  # stream positions known not to start a frame
        self._skipping = False

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def clear(self) -> None:
        self._drop(len(self._buffer))
        self._skipping = False

    def feed(self, data: bytes) -> list[ChafonFrame | FrameError]:
        self._buffer += data
        out: list[ChafonFrame | FrameError] = []
        while self._buffer:
            verdict = self._candidate(0)
            if verdict is True:
                length = self._buffer[0] + 1
                raw = bytes(self._buffer[:length])
                self._drop(length)
                self._skipping = False
                out.append(ChafonFrame(address=raw[1], command=raw[2], data=raw[3:-2]))
            elif verdict is False:
                self._skip(1, self._reason, out)
            else:
                later = next(
                    (p for p in range(1, len(self._buffer)) if self._candidate(p) is True), None
                )
                if later is None:
                    break  # wait for more bytes (at most MAX_FRAME are ever held back)
                self._skip(later, self._cut_short, out)
        return out

    def _candidate(self, pos: int) -> bool | None:
        """Does a frame start at ``pos``: yes, no, or None (not all its bytes are here yet)."""
        if self._offset + pos in self._bad:
            return False
        buf = self._buffer
        length = buf[pos]
        if length >= MIN_LEN:
            end = pos + length + 1
            if end > len(buf):
                return None
            if crc16_mcrf4xx(buf[pos : end - 2]) == buf[end - 2] | buf[end - 1] << 8:
                return True
        self._bad.add(self._offset + pos)
        return False

    def _reason(self) -> str:
        length = self._buffer[0]
        try:
            decode_frame(bytes(self._buffer[: length + 1]))
        except FrameError as exc:
            return str(exc)
        return "not a frame"  # unreachable: _candidate said no

    def _cut_short(self) -> str:
        return f"incomplete frame (length {self._buffer[0]}) cut short by a new one"

    def _skip(
        self, count: int, reason: Callable[[], str], out: list[ChafonFrame | FrameError]
    ) -> None:
        if not self._skipping:  # the reason is worked out only when it is reported
            out.append(FrameError(reason()))
            self._skipping = True
        self._drop(count)

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._offset += count
        if len(self._bad) > 4 * MAX_FRAME:
            self._bad = {p for p in self._bad if p >= self._offset}
