"""Kerong KR-CU16 frames: exact request bytes, status decoding under both polarities, the
streaming framer at every split point and under seeded fuzz."""

from __future__ import annotations

import random

import pytest

from devices.errors import FrameError
from devices.locker.protocol import (
    REPLY_LENGTHS,
    REQUEST_LENGTHS,
    BoardStatus,
    Frame,
    Framer,
    Polarity,
    Rejected,
    Sensors,
    checksum,
    decode_frame,
    decode_status_reply,
    decode_unlock_reply,
    encode_reply,
    status_request,
    unlock_request,
)

H = bytes.fromhex

# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        # the field captures: status of board 0, unlock of the lock printed "1" on board 0
        (status_request(0), "02 00 30 03 35"),
        (unlock_request(0, 0), "02 00 31 03 36"),
        (status_request(1), "02 10 30 03 45"),
        (unlock_request(0, 1), "02 01 31 03 37"),
        (unlock_request(2, 15), "02 2f 31 03 65"),
        (unlock_request(15, 15), "02 ff 31 03 35"),  # the sum wraps: 0x135
    ],
)
def test_requests_are_the_exact_bytes_on_the_wire(frame: bytes, wire: str) -> None:
    assert frame == H(wire)


def test_checksum_is_the_low_byte_of_the_sum() -> None:
    assert checksum(H("02 00 30 03")) == 0x35
    assert checksum(H("02 ff 31 03")) == 0x35
    assert checksum(b"") == 0


@pytest.mark.parametrize(("board", "lock"), [(16, 0), (-1, 0), (0, 16), (0, -1)])
def test_out_of_range_addresses_are_refused(board: int, lock: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        unlock_request(board, lock)


# -- status replies ------------------------------------------------------------------------------

DEFAULT = Polarity()  # hook bit set = latched, sensor bit set = active
INVERTED = Polarity(lock_open_bit=1, sensor_active_bit=0)
ALL = frozenset(range(16))


@pytest.mark.parametrize(
    ("wire", "polarity", "locks_open", "sensors_active"),
    [
        ("02 00 30 ff ff 00 00 03 33", DEFAULT, set(), set()),
        ("02 00 30 ff ff 00 00 03 33", INVERTED, ALL, ALL),
        ("02 00 30 fe ff 01 00 03 33", DEFAULT, {0}, {0}),
        ("02 00 30 fe ff 01 00 03 33", INVERTED, ALL - {0}, ALL - {0}),
        ("02 00 30 7f 7f 80 01 03 b4", DEFAULT, {7, 15}, {7, 8}),
        ("02 00 30 7f 7f 80 01 03 b4", INVERTED, ALL - {7, 15}, ALL - {7, 8}),
        ("02 00 30 55 55 aa 00 03 89", DEFAULT, {1, 3, 5, 7, 9, 11, 13, 15}, {1, 3, 5, 7}),
        ("02 30 30 00 00 ff ff 03 63", DEFAULT, ALL, ALL),
        ("02 30 30 00 00 ff ff 03 63", INVERTED, set(), set()),
    ],
)
def test_status_reply_decodes_hooks_and_sensors(
    wire: str, polarity: Polarity, locks_open: set[int], sensors_active: set[int]
) -> None:
    status = decode_status_reply(decode_frame(H(wire)), polarity)
    assert status.locks_open == locks_open
    assert status.sensors_active == sensors_active
    assert status.raw == H(wire)


def test_status_reply_names_its_board() -> None:
    assert decode_status_reply(decode_frame(H("02 30 30 00 00 ff ff 03 63"))).board == 3


def test_item_sensors_and_hooks_as_doors() -> None:
    status = decode_status_reply(decode_frame(H("02 00 30 7f 7f 80 01 03 b4")))
    assert status.doors_open == {7, 15}  # a released hook is an open door
    assert status.items_present == {7, 8}


def test_door_switches_on_the_sensor_inputs() -> None:
    status = decode_status_reply(
        decode_frame(H("02 00 30 7f 7f 80 01 03 b4")), sensors=Sensors.DOOR
    )
    assert status.locks_open == {7, 15}
    assert status.doors_open == {7, 8}
    assert status.items_present is None


@pytest.mark.parametrize(
    ("wire", "opened"),
    [("02 05 31 df ff 00 00 03 19", True), ("02 05 31 ff ff 00 00 03 39", False)],
)
def test_unlock_reply_says_whether_the_lock_released(wire: str, opened: bool) -> None:
    reply = decode_unlock_reply(decode_frame(H(wire)))
    assert (reply.board, reply.lock, reply.opened) == (0, 5, opened)


def test_a_reply_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(FrameError, match="not an unlock reply"):
        decode_unlock_reply(decode_frame(H("02 00 30 ff ff 00 00 03 33")))
    with pytest.raises(FrameError, match="not a status reply"):
        decode_status_reply(decode_frame(H("02 05 31 df ff 00 00 03 19")))


@pytest.mark.parametrize("polarity", [DEFAULT, INVERTED, Polarity(1, 1), Polarity(0, 0)])
def test_encoded_replies_decode_to_the_same_sets(polarity: Polarity) -> None:
    rng = random.Random(7)
    for _ in range(200):
        locks = {i for i in range(16) if rng.random() < 0.5}
        sensed = {i for i in range(16) if rng.random() < 0.5}
        raw = encode_reply(0x30, 0x40, locks, sensed, polarity)
        status = decode_status_reply(decode_frame(raw), polarity)
        assert status == BoardStatus(4, frozenset(locks), frozenset(sensed), Sensors.ITEM, raw)


def test_polarity_bits_are_zero_or_one() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        Polarity(lock_open_bit=2)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("02 00 30 ff ff 00 00 03 34", "bad checksum"),
        ("02 00 30 ff ff 00 00 13 43", "no ETX"),
        ("02 00 30 03", "too short"),
        ("03 00 30 ff ff 00 00 03 34", "STX"),
        ("02 00 44 03 49", "unknown command"),
        ("02 00 30 03 35", "takes 9 bytes"),  # a request is not a reply
    ],
)
def test_decode_frame_says_what_is_wrong(wire: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_frame(H(wire))


# -- the framer ----------------------------------------------------------------------------------

REPLIES = [
    H("02 00 30 ff ff 00 00 03 33"),
    H("02 05 31 df ff 00 00 03 19"),
    H("02 30 30 00 00 ff ff 03 63"),
    H("02 00 30 7f 7f 80 01 03 b4"),
]
STREAM = b"".join(REPLIES)


def frames_of(items: list[Frame | Rejected]) -> list[bytes]:
    return [i.raw for i in items if isinstance(i, Frame)]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_framer_finds_every_frame_whatever_the_split(cut: int) -> None:
    framer = Framer.for_replies()
    items = framer.feed(STREAM[:cut]) + framer.feed(STREAM[cut:])
    assert frames_of(items) == REPLIES
    assert not [i for i in items if isinstance(i, Rejected)]
    assert framer.pending == b""


def test_framer_byte_by_byte() -> None:
    framer = Framer.for_replies()
    items = [item for b in STREAM for item in framer.feed(bytes([b]))]
    assert frames_of(items) == REPLIES


def test_requests_frame_as_requests() -> None:
    framer = Framer.for_requests()
    items = framer.feed(status_request(3) + unlock_request(3, 9))
    assert [(f.board, f.lock, f.cmd) for f in items if isinstance(f, Frame)] == [
        (3, 0, 0x30),
        (3, 9, 0x31),
    ]


@pytest.mark.parametrize(
    ("junk", "reason"),
    [
        (H("ff 13 77"), "noise"),
        (H("02 00 30 ff ff 00 00 03 34"), "bad checksum"),  # a corrupted reply
        (H("02 00 30"), "no ETX"),  # a false start: the real frame's bytes fill it
        (H("02 99"), "unknown command"),
    ],
)
def test_framer_rejects_with_a_reason_and_resyncs(junk: bytes, reason: str) -> None:
    framer = Framer.for_replies()
    items = framer.feed(junk + REPLIES[1] + REPLIES[2])
    assert frames_of(items) == REPLIES[1:3]
    reasons = [i.reason for i in items if isinstance(i, Rejected)]
    assert any(reason in r for r in reasons), reasons


def test_framer_waits_for_the_rest_of_a_frame() -> None:
    framer = Framer.for_replies()
    assert framer.feed(REPLIES[0][:5]) == []
    assert framer.pending == REPLIES[0][:5]
    framer.reset()
    assert framer.pending == b""


def _mutations(rng: random.Random) -> bytes:
    """Random bytes, truncated frames, bit-flipped frames, frames glued to noise."""
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    frame = bytearray(rng.choice([*REPLIES, status_request(0), unlock_request(1, 2)]))
    if kind == 1:
        return bytes(frame[: rng.randrange(len(frame))])
    if kind == 2:
        i = rng.randrange(len(frame))
        frame[i] ^= 1 << rng.randrange(8)
        return bytes(frame)
    noise = bytes(rng.choice([0x02, 0x03, 0x30, 0x31, rng.randrange(256)]) for _ in range(5))
    return noise + bytes(frame[: rng.randrange(len(frame) + 1)])


def test_fuzz_only_typed_rejections_and_valid_frames_survive() -> None:
    rng = random.Random(20240611)
    good = REPLIES[0]  # no 0x02 inside, so garbage cannot start a candidate within it
    for _ in range(5000):
        framer = Framer.for_replies()
        garbage = _mutations(rng)
        items: list[Frame | Rejected] = []
        data = garbage + good + good
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 6)
            items += framer.feed(data[pos : pos + step])
            pos += step
            assert len(framer.pending) < max(REPLY_LENGTHS.values())
        assert all(isinstance(i, Frame | Rejected) for i in items)
        for frame in frames_of(items):
            assert decode_frame(frame).raw == frame  # whatever came out is checksummed
        # Garbage may swallow part of the first copy, never the second.
        assert frames_of(items)[-1] == good
        assert framer.pending == b""


def test_fuzz_decode_frame_raises_only_frame_errors() -> None:
    rng = random.Random(99)
    for _ in range(5000):
        raw = _mutations(rng)
        for lengths in (REPLY_LENGTHS, REQUEST_LENGTHS):
            try:
                frame = decode_frame(raw, lengths)
            except FrameError:
                continue
            assert frame.raw == raw
            assert checksum(raw[:-1]) == raw[-1]
