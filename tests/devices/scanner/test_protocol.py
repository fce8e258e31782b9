"""The scanner's text-mode framing and GS1 rules, on exact bytes a scanner sends."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from devices.scanner.gs1 import (
    GS1Error,
    gtin_check_digit,
    normalise_gtin,
    parse_element_string,
)
from devices.scanner.protocol import (
    CRLF,
    Rejected,
    Scan,
    ScanFramer,
    ScanItem,
    Symbology,
    encode_scan,
)

GS = b"\x1d"


def feed_all(framer: ScanFramer, *chunks: bytes) -> list[ScanItem]:
    items: list[ScanItem] = []
    for chunk in chunks:
        items += framer.feed(chunk)
    return items


def only_scan(wire: bytes, **framer_args: Any) -> Scan:
    items = ScanFramer(**framer_args).feed(wire)
    assert len(items) == 1, items
    assert isinstance(items[0], Scan), items[0]
    return items[0]


# -- GTIN check digits: the GS1 published examples ---------------------------------------------


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [
        ("4006381333931", "04006381333931"),  # EAN-13
        ("96385074", "00000096385074"),  # EAN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("09501101530003", "09501101530003"),  # GTIN-14 (GS1 General Specifications example)
        ("80614141123458", "80614141123458"),  # GTIN-14 with an indicator digit
    ],
)
def test_valid_gtins_normalise_to_14_digits(gtin: str, gtin14: str) -> None:
    assert normalise_gtin(gtin) == gtin14
    assert gtin_check_digit(gtin[:-1]) == int(gtin[-1])


@pytest.mark.parametrize("bad", ["4006381333932", "96385075", "12345", "40063813339A1", ""])
def test_invalid_gtins_are_refused(bad: str) -> None:
    with pytest.raises(GS1Error):
        normalise_gtin(bad)


def test_gs1_element_string_fields() -> None:
    fields = parse_element_string("01095011015300031724123110ABC123\x1d21XYZ")
    assert fields.gtin == "09501101530003"
    assert fields.expiry == date(2024, 12, 31)
    assert fields.batch == "ABC123"
    assert fields.serial == "XYZ"


def test_gs1_expiry_day_00_is_the_last_day_of_the_month() -> None:
    assert parse_element_string("17250200").expiry == date(2025, 2, 28)


# -- lines → scans -----------------------------------------------------------------------------

GS1_128 = b"]C101095011015300031724123110ABC123\x1d21XYZ\r"


@pytest.mark.parametrize(
    ("wire", "symbology", "data", "gtin"),
    [
        (b"]E04006381333931\r", Symbology.EAN_13, "4006381333931", "04006381333931"),
        (b"]E0036000291452\r", Symbology.UPC_A, "036000291452", "00036000291452"),
        (b"]E0400638133393112\r", Symbology.EAN_13, "400638133393112", "04006381333931"),
        (b"]E496385074\r", Symbology.EAN_8, "96385074", "00000096385074"),
        (b"]C0ABC-123\r", Symbology.CODE_128, "ABC-123", None),
        (b"]C04006381333931\r", Symbology.CODE_128, "4006381333931", None),
        (b"]Q1hello world\r", Symbology.QR, "hello world", None),
        (
            b"]Q1https://id.gs1.org/01/04006381333931\r",
            Symbology.QR,
            "https://id.gs1.org/01/04006381333931",
            "04006381333931",
        ),
        (b"]e00100614141123452\r", Symbology.GS1_DATABAR, "0100614141123452", "00614141123452"),
        (b"]d20109501101530003\r", Symbology.GS1_DATAMATRIX, "0109501101530003", "09501101530003"),
        (b"]I110614141123459\r", Symbology.ITF, "10614141123459", "10614141123459"),
        (b"]X9whatever\r", Symbology.OTHER, "whatever", None),
        (b"4006381333931\r", Symbology.UNKNOWN, "4006381333931", "04006381333931"),
        (b"4006381333932\r", Symbology.UNKNOWN, "4006381333932", None),  # maybe a Code 128
        ("]Q1Grüße\r".encode(), Symbology.QR, "Grüße", None),
    ],
)
def test_a_line_becomes_a_typed_scan(
    wire: bytes, symbology: Symbology, data: str, gtin: str | None
) -> None:
    scan = only_scan(wire)
    assert (scan.symbology, scan.data, scan.gtin) == (symbology, data, gtin)
    assert scan.raw == wire[:-1]


def test_gs1_128_with_group_separator() -> None:
    scan = only_scan(GS1_128)
    assert scan.symbology is Symbology.GS1_128
    assert scan.aim_id == "]C1"
    assert scan.gtin == "09501101530003"
    assert scan.expiry == date(2024, 12, 31)
    assert scan.batch == "ABC123"
    assert scan.serial == "XYZ"


def test_gs1_with_leading_fnc1_sent_as_gs() -> None:
    assert only_scan(b"]d2\x1d0109501101530003\r").gtin == "09501101530003"


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"]E04006381333932\r", "check digit"),
        (b"]E496385075\r", "check digit"),
        (b"]E040063813339\r", "12 or 13 digits"),
        (b"]E0400638133A931\r", "digits"),
        (b"]C101095011015300041724123110ABC\r", "check digit"),  # (01) with a bad check digit
        (b"]C11724023010ABC\r", "date"),  # 30 February
        (b"]C199\r", "GS1"),
        (b"]E0\r", "no data"),
        (b"]C0AB\x07CD\r", "non-printable byte 0x07"),
        (b"]Q1\xc3\x28\r", "UTF-8"),
        (b"\x01\x02\x03\r", "line noise"),
    ],
)
def test_a_bad_read_is_rejected_with_a_reason(wire: bytes, reason: str) -> None:
    items = ScanFramer().feed(wire)
    assert len(items) == 1
    assert isinstance(items[0], Rejected)
    assert reason in items[0].reason
    assert items[0].raw == wire[:-1]


def test_a_bad_line_does_not_block_the_next() -> None:
    items = ScanFramer().feed(b"]E04006381333932\r\x00\x01]\xff\r]E496385074\r")
    assert [type(i) for i in items] == [Rejected, Rejected, Scan]
    assert isinstance(items[2], Scan)
    assert items[2].gtin == "00000096385074"


def test_prefix_is_stripped_and_required() -> None:
    framer = ScanFramer(prefix=b"\x02S")
    items = framer.feed(b"\x02S]E04006381333931\r]E04006381333931\r")
    assert isinstance(items[0], Scan)
    assert items[0].gtin == "04006381333931"
    assert items[0].raw == b"\x02S]E04006381333931"
    assert isinstance(items[1], Rejected)
    assert items[1].reason == "missing prefix"


def test_cr_lf_suffix() -> None:
    framer = ScanFramer(suffix=CRLF)
    items = feed_all(framer, b"]E04006381333931\r", b"\n]C0AB\r", b"\n")
    assert [i.data for i in items if isinstance(i, Scan)] == ["4006381333931", "AB"]
    # A lone CR is not the end of a read: it stays in the line, where it is not valid data.
    items = framer.feed(b"]C0A\rB\r\n")
    assert len(items) == 1
    assert isinstance(items[0], Rejected)
    assert "0x0D" in items[0].reason


def test_cr_lf_from_the_scanner_when_the_framer_splits_on_cr() -> None:
    items = ScanFramer().feed(b"]E04006381333931\r\n]E496385074\r\n")
    assert [i.gtin for i in items if isinstance(i, Scan)] == ["04006381333931", "00000096385074"]
    assert len(items) == 2  # the LFs are not reported as reads


def test_stray_bytes_glued_before_an_aim_id_are_line_noise() -> None:
    scan = only_scan(b"\xffz!]E04006381333931\r")
    assert scan.symbology is Symbology.EAN_13
    assert scan.gtin == "04006381333931"


def test_no_split_on_a_pause_only_on_the_suffix() -> None:
    framer = ScanFramer()
    assert framer.feed(b"]E0400638") == []
    assert framer.pending == 9
    items = framer.feed(b"1333931\r")
    assert [i.data for i in items if isinstance(i, Scan)] == ["4006381333931"]
    assert framer.pending == 0


def test_overlong_line_is_rejected_then_the_framer_resyncs() -> None:
    framer = ScanFramer(max_line=64)
    items = framer.feed(b"A" * 50)
    assert items == []
    items = framer.feed(b"B" * 50)
    assert len(items) == 1
    assert isinstance(items[0], Rejected)
    assert "longer than 64" in items[0].reason
    assert framer.pending <= 64
    # Still inside the overlong line: dropped up to its suffix, without a second rejection.
    assert framer.feed(b"C" * 500) == []
    items = framer.feed(b"CCC\r]E04006381333931\r")
    assert [type(i) for i in items] == [Scan]


def test_overlong_line_that_ends_in_the_same_chunk() -> None:
    items = ScanFramer(max_line=64).feed(b"9" * 100 + b"\r]E496385074\r")
    assert [type(i) for i in items] == [Rejected, Scan]


WIRE_CASES = [
    (b"]E04006381333931\r", {}),
    (GS1_128, {}),
    (b"]E04006381333931\r\n", {"suffix": CRLF}),
    (
        b"\x02S]C101095011015300031724123110ABC123\x1d21XYZ\r\n",
        {"suffix": CRLF, "prefix": b"\x02S"},
    ),
]


@pytest.mark.parametrize(("wire", "framer_args"), WIRE_CASES)
def test_every_chunk_boundary_gives_the_same_scan(wire: bytes, framer_args: dict[str, Any]) -> None:
    expected = ScanFramer(**framer_args).feed(wire)
    assert len(expected) == 1
    assert isinstance(expected[0], Scan)
    for cut in range(1, len(wire)):
        assert feed_all(ScanFramer(**framer_args), wire[:cut], wire[cut:]) == expected, cut
    for first in range(1, len(wire)):
        for second in range(first + 1, len(wire)):
            parts = (wire[:first], wire[first:second], wire[second:])
            assert feed_all(ScanFramer(**framer_args), *parts) == expected
    assert feed_all(ScanFramer(**framer_args), *(bytes([b]) for b in wire)) == expected


@pytest.mark.parametrize(
    ("data", "aim_id", "prefix", "suffix", "wire"),
    [
        ("4006381333931", "]E0", b"", b"\r", b"]E04006381333931\r"),
        ("ABC", "]C0", b"\x02", CRLF, b"\x02]C0ABC\r\n"),
        ("96385074", "", b"", b"\r", b"96385074\r"),
    ],
)
def test_encode_scan_exact_bytes(
    data: str, aim_id: str, prefix: bytes, suffix: bytes, wire: bytes
) -> None:
    assert encode_scan(data, aim_id, prefix=prefix, suffix=suffix) == wire
    scan = only_scan(wire, prefix=prefix, suffix=suffix)
    assert scan.data == data


# -- fuzz --------------------------------------------------------------------------------------

VALID_LINES = [
    b"]E04006381333931\r",
    GS1_128,
    b"]E496385074\r",
    b"]Q1https://example.com/x\r",
]


def test_fuzz_random_and_truncated_bytes_never_break_the_framer() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        framer = ScanFramer(max_line=rng.choice([64, 4096]))
        garbage = bytearray(rng.randbytes(rng.randint(0, 300)))
        if rng.random() < 0.5:  # truncated valid reads inside the noise
            line = rng.choice(VALID_LINES)
            garbage += line[: rng.randrange(len(line))]
        if rng.random() < 0.3:  # bytes that look like structure
            garbage += rng.choice([b"]", b"]E0", b"\x1d", b"]C1", b"\r"]) * rng.randint(1, 5)
        items = feed_all(framer, *_chunks(rng, bytes(garbage)))
        assert all(isinstance(i, Scan | Rejected) for i in items)
        # Whatever came before, a fresh line after one suffix is decoded.
        good = rng.choice(VALID_LINES)
        after = feed_all(framer, *_chunks(rng, b"\r" + good))
        scans = [i for i in after if isinstance(i, Scan)]
        assert scans, (bytes(garbage), after)
        assert scans[-1] == ScanFramer().feed(good)[0]


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    chunks = []
    at = 0
    while at < len(data):
        size = rng.randint(1, 40)
        chunks.append(data[at : at + size])
        at += size
    return chunks
