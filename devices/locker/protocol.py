"""Kerong KR-CU16 lock-control boards: frames, status decoding and a streaming framer (pure).

Used by ``client.LockerBoard`` (requests out, replies in) and by ``simulator`` (the other way
round). No I/O here.

RS485, 19200 8N1. Every frame::

    +------+------+-----+-----------------+------+-----+
    | STX  | ADDR | CMD | DATA (0..4)     | ETX  | SUM |
    | 0x02 |      |     |                 | 0x03 |     |
    +------+------+-----+-----------------+------+-----+
    SUM = low byte of the sum of every byte before it (STX .. ETX)

    ADDR = board << 4 | lock         high nibble: board 0x0-0xF (DIP switches)
                                     low nibble:  lock 0x0-0xF (0 for board-wide commands)

Locks are numbered 0-15 here, exactly as on the wire: the lock printed "1" on the board is
lock 0, so "unlock lock 1 of board 0" is ``02 00 31 03 36`` and lock 16 of board 2 is ADDR 0x2F.

Requests (5 bytes, no data)::

    status  02 B0 30 03 SUM      e.g. board 0: 02 00 30 03 35
    unlock  02 BL 31 03 SUM      e.g. board 0, lock 0: 02 00 31 03 36

Replies to both (9 bytes, four data bytes, ADDR echoed)::

    02 ADDR CMD  H1 H2 S1 S2  03 SUM
                 H1: hook (lock) bits, bit 0 = lock 0 ... bit 7 = lock 7;  H2: locks 8-15
                 S1: sensor bits (infrared item detector, or a door switch), locks 0-7; S2: 8-15

The reply to an unlock carries the board's status after the pulse, so it says whether the lock
released. Published drivers read a set hook bit as "locked" and a set sensor bit as "item
present", but boards and wirings differ, so ``Polarity`` says which bit value means open/active.
A released hook stays released until the door is pushed shut (the latch re-engages), so on a
board without door switches the hooks are the doors.

Other commands of the family (0x32 status of every board on the bus via ADDR 0xF0, 0x33 unlock
all, 0x37 unlock pulse time, 0x39 delayed unlock) are not used: a store opens one door at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devices.errors import FrameError

STX = 0x02
ETX = 0x03
CMD_STATUS = 0x30
CMD_UNLOCK = 0x31
LOCKS_PER_BOARD = 16
MAX_BOARD = 0x0F

#: Frame length by command, as the host sends them and as the board answers them. A command
#: missing here is rejected by the framer (an unknown command is noise, not a frame).
REQUEST_LENGTHS: dict[int, int] = {CMD_STATUS: 5, CMD_UNLOCK: 5}
REPLY_LENGTHS: dict[int, int] = {CMD_STATUS: 9, CMD_UNLOCK: 9}


def checksum(data: bytes) -> int:
    """Low byte of the sum of ``data``."""
    return sum(data) & 0xFF


def address(board: int, lock: int = 0) -> int:
    if not 0 <= board <= MAX_BOARD:
        raise ValueError(f"board must be 0-{MAX_BOARD}, not {board}")
    if not 0 <= lock < LOCKS_PER_BOARD:
        raise ValueError(f"lock must be 0-{LOCKS_PER_BOARD - 1}, not {lock}")
    return board << 4 | lock


def encode_frame(addr: int, cmd: int, data: bytes = b"") -> bytes:
    body = bytes([STX, addr & 0xFF, cmd & 0xFF]) + data + bytes([ETX])
    return body + bytes([checksum(body)])


def status_request(board: int) -> bytes:
    return encode_frame(address(board), CMD_STATUS)


def unlock_request(board: int, lock: int) -> bytes:
    return encode_frame(address(board, lock), CMD_UNLOCK)


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked frame: checksum and ETX verified, data between CMD and ETX."""

    addr: int
    cmd: int
    data: bytes
    raw: bytes

    @property
    def board(self) -> int:
        return self.addr >> 4

    @property
    def lock(self) -> int:
        return self.addr & 0x0F


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes the framer threw away, and why (noise, bad checksum, unknown command...)."""

    reason: str
    data: bytes


def decode_frame(raw: bytes, lengths: dict[int, int] = REPLY_LENGTHS) -> Frame:
    """Check one complete frame; ``FrameError`` says what is wrong with it."""
    if len(raw) < 5:
        raise FrameError(f"frame too short ({len(raw)} bytes): {raw.hex(' ')}")
    if raw[0] != STX:
        raise FrameError(f"frame does not start with STX: {raw.hex(' ')}")
    expected = lengths.get(raw[2])
    if expected is None:
        raise FrameError(f"unknown command 0x{raw[2]:02x}")
    if len(raw) != expected:
        raise FrameError(f"command 0x{raw[2]:02x} takes {expected} bytes, not {len(raw)}")
    if raw[-2] != ETX:
        raise FrameError(f"no ETX before the checksum: {raw.hex(' ')}")
    if raw[-1] != checksum(raw[:-1]):
        raise FrameError(
            f"bad checksum 0x{raw[-1]:02x} (expected 0x{checksum(raw[:-1]):02x}): {raw.hex(' ')}"
        )
    return Frame(addr=raw[1], cmd=raw[2], data=bytes(raw[3:-2]), raw=bytes(raw))


class Framer:
    """Finds frames in a byte stream with noise, split and glued frames; resyncs after junk.

    ``feed`` returns frames and rejections in arrival order and never raises. A candidate that
    fails its checks costs only its STX byte: the search restarts at the next 0x02, so a real
    frame hidden behind a false start is still found.
    """

    def __init__(self, lengths: dict[int, int]) -> None:
        self._lengths = dict(lengths)
        self._buf = bytearray()

    @classmethod
    def for_replies(cls) -> Framer:
        return cls(REPLY_LENGTHS)

    @classmethod
    def for_requests(cls) -> Framer:
        return cls(REQUEST_LENGTHS)

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame | Rejected]:
        self._buf += data
        out: list[Frame | Rejected] = []
        buf = self._buf
        while buf:
            start = buf.find(STX)
            if start != 0:
                junk = bytes(buf) if start < 0 else bytes(buf[:start])
                out.append(Rejected("noise between frames", junk))
                del buf[: len(junk)]
                continue
            if len(buf) < 3:
                break  # cannot tell the command yet
            length = self._lengths.get(buf[2])
            if length is None:
                out.append(Rejected(f"unknown command 0x{buf[2]:02x}", bytes(buf[:3])))
                del buf[:1]
                continue
            if len(buf) < length:
                break
            candidate = bytes(buf[:length])
            try:
                frame = decode_frame(candidate, self._lengths)
            except FrameError as exc:
                out.append(Rejected(str(exc), candidate))
                del buf[:1]
                continue
            out.append(frame)
            del buf[:length]
        return out


# -- status ------------------------------------------------------------------------------------


class Sensors(StrEnum):
    """What the board's sensor inputs are wired to."""

    ITEM = "item"  # infrared item detectors; the doors are read from the hooks
    DOOR = "door"  # door switches; no item detection


@dataclass(frozen=True, slots=True)
class Polarity:
    """Which bit value means "lock released" and "sensor active" (door open / item present).

    The defaults follow the published drivers (hook bit set = locked, sensor bit set = item);
    flip them per installation when a board or its wiring says otherwise.
    """

    lock_open_bit: int = 0
    sensor_active_bit: int = 1

    def __post_init__(self) -> None:
        if self.lock_open_bit not in (0, 1) or self.sensor_active_bit not in (0, 1):
            raise ValueError("polarity bits are 0 or 1")


@dataclass(frozen=True, slots=True)
class BoardStatus:
    """One board's 16 locks at one moment, as the board reported them."""

    board: int
    locks_open: frozenset[int]
    sensors_active: frozenset[int]
    sensors: Sensors
    raw: bytes

    @property
    def doors_open(self) -> frozenset[int]:
        return self.sensors_active if self.sensors is Sensors.DOOR else self.locks_open

    @property
    def items_present(self) -> frozenset[int] | None:
        """Locks whose compartment holds something; None when the board has no item sensors."""
        return self.sensors_active if self.sensors is Sensors.ITEM else None

    def is_open(self, lock: int) -> bool:
        return lock in self.locks_open


@dataclass(frozen=True, slots=True)
class UnlockReply:
    """The board's answer to an unlock: which lock it pulsed and its status afterwards."""

    board: int
    lock: int
    status: BoardStatus

    @property
    def opened(self) -> bool:
        return self.status.is_open(self.lock)


def _bits_to_locks(low: int, high: int, wanted: int) -> frozenset[int]:
    word = low | high << 8
    return frozenset(i for i in range(LOCKS_PER_BOARD) if (word >> i) & 1 == wanted)


def _locks_to_bits(locks: frozenset[int] | set[int], wanted: int) -> tuple[int, int]:
    word = 0
    for i in range(LOCKS_PER_BOARD):
        if (i in locks) == bool(wanted):
            word |= 1 << i
    return word & 0xFF, word >> 8


def _status_of(frame: Frame, polarity: Polarity, sensors: Sensors) -> BoardStatus:
    if len(frame.data) != 4:
        raise FrameError(f"status carries 4 data bytes, not {len(frame.data)}")
    h1, h2, s1, s2 = frame.data
    return BoardStatus(
        board=frame.board,
        locks_open=_bits_to_locks(h1, h2, polarity.lock_open_bit),
        sensors_active=_bits_to_locks(s1, s2, polarity.sensor_active_bit),
        sensors=sensors,
        raw=frame.raw,
    )


def decode_status_reply(
    frame: Frame, polarity: Polarity = Polarity(), sensors: Sensors = Sensors.ITEM
) -> BoardStatus:
    if frame.cmd != CMD_STATUS:
        raise FrameError(f"not a status reply (command 0x{frame.cmd:02x})")
    return _status_of(frame, polarity, sensors)


def decode_unlock_reply(
    frame: Frame, polarity: Polarity = Polarity(), sensors: Sensors = Sensors.ITEM
) -> UnlockReply:
    if frame.cmd != CMD_UNLOCK:
        raise FrameError(f"not an unlock reply (command 0x{frame.cmd:02x})")
    return UnlockReply(frame.board, frame.lock, _status_of(frame, polarity, sensors))


def encode_reply(
    cmd: int,
    addr: int,
    locks_open: frozenset[int] | set[int],
    sensors_active: frozenset[int] | set[int],
    polarity: Polarity = Polarity(),
) -> bytes:
    """A board's status reply (to a status request or an unlock), as the simulator sends it."""
    h1, h2 = _locks_to_bits(frozenset(locks_open), polarity.lock_open_bit)
    s1, s2 = _locks_to_bits(frozenset(sensors_active), polarity.sensor_active_bit)
    return encode_frame(addr, cmd, bytes([h1, h2, s1, s2]))
