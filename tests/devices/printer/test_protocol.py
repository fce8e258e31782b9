"""ESC/POS receipt encoding on exact bytes, and the parser the simulator reads them back with.

The QR vectors are python-escpos's own native-QR test expectations
(``test/test_functions/test_function_qr_native.py``), so our bytes match a widely used driver.
"""

from __future__ import annotations

import random

import pytest

from devices.errors import FrameError
from devices.printer.parse import (
    Align,
    Bold,
    CharSize,
    Command,
    Cut,
    Init,
    LineFeed,
    QrErrorCorrection,
    QrModel,
    QrModuleSize,
    QrPrint,
    QrStore,
    Rejected,
    StatusRequest,
    Text,
    parse_escpos,
    read_back,
)
from devices.printer.protocol import (
    INIT,
    PAPER_STATUS_REQUEST,
    PARTIAL_CUT,
    PaperStatus,
    Receipt,
    align,
    bold,
    char_size,
    decode_paper_status,
    encode_paper_status,
    encode_qr,
    encode_receipt,
    encode_text,
)

RECEIPT = Receipt(
    store_name="StoreLink Market",
    lines=(("Milk 1L", 2, 199), ("Sourdough bread", 1, 350)),
    total_cents=748,
    receipt_id="R-0001",
    qr_url="https://r.example/1",
)


# -- exact bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (INIT, "1b 40"),
        (align("left"), "1b 61 00"),
        (align("centre"), "1b 61 01"),
        (align("right"), "1b 61 02"),
        (bold(True), "1b 45 01"),
        (bold(False), "1b 45 00"),
        (char_size(), "1d 21 00"),
        (char_size(height=2), "1d 21 01"),
        (char_size(width=2, height=2), "1d 21 11"),
        (PARTIAL_CUT, "1d 56 01"),
        (PAPER_STATUS_REQUEST, "10 04 04"),
    ],
)
def test_command_bytes(wire: bytes, expected: str) -> None:
    assert wire == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("kwargs", "ec_byte", "size_byte"),
    [
        ({"module_size": 3, "ec": "L"}, b"0", b"\x03"),  # python-escpos test_defaults
        ({"module_size": 3, "ec": "H"}, b"3", b"\x03"),  # test_ec
        ({"module_size": 7, "ec": "L"}, b"0", b"\x07"),  # test_size
    ],
)
def test_qr_matches_python_escpos_vectors(
    kwargs: dict[str, object], ec_byte: bytes, size_byte: bytes
) -> None:
    expected = (
        b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C"
        + size_byte
        + b"\x1d(k\x03\x001E"
        + ec_byte
        + b"\x1d(k\x07\x001P01234\x1d(k\x03\x001Q0"
    )
    assert encode_qr("1234", **kwargs) == expected  # type: ignore[arg-type]


def test_qr_of_a_digital_receipt_url() -> None:
    assert encode_qr("https://r.example/1") == bytes.fromhex(
        "1d 28 6b 04 00 31 41 32 00"  # fn 65: model 2
        "1d 28 6b 03 00 31 43 06"  # fn 67: module 6 dots
        "1d 28 6b 03 00 31 45 31"  # fn 69: error correction M
        "1d 28 6b 16 00 31 50 30"  # fn 80: store 19 bytes (pL = 19 + 3 = 0x16)
        "68 74 74 70 73 3a 2f 2f 72 2e 65 78 61 6d 70 6c 65 2f 31"
        "1d 28 6b 03 00 31 51 30"  # fn 81: print
    )


def test_qr_store_length_uses_both_length_bytes() -> None:
    wire = encode_qr("x" * 1000, ec="L")
    store = wire.index(b"1P0")
    assert wire[store - 2 : store] == (1003).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("data", "ec", "reason"),
    [
        ("", "M", "empty"),
        ("1" * 7090, "L", "at most 7089"),
        ("1" * 7089 + "", "M", "at most 5596"),  # fits the command, not a symbol at M
        ("https://r.example/" + "a" * 2400, "M", "at most 2331"),
    ],
)
def test_qr_data_that_cannot_be_a_symbol_is_refused(data: str, ec: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        encode_qr(data, ec=ec)  # type: ignore[arg-type]


def test_qr_limits_are_accepted() -> None:
    assert encode_qr("1" * 7089, ec="L")
    assert encode_qr("a" * 2953, ec="L")


@pytest.mark.parametrize(("kwargs"), [{"module_size": 0}, {"module_size": 17}, {"ec": "X"}])
def test_bad_qr_settings_are_value_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="QR"):
        encode_qr("x", **kwargs)  # type: ignore[arg-type]


def test_text_is_cp437_with_question_marks_for_the_rest() -> None:
    assert encode_text("Café Ünïcode") == b"Caf\x82 \x9an\x8bcode"
    assert encode_text("5 € ☃ 日本") == b"5 ? ? ??"


def test_control_characters_in_text_cannot_inject_commands() -> None:
    evil = Receipt("Shop\x1bi", (("Gum\x1dV\x00", 1, 100),), 100, "R\n1", "https://r.example/2")
    printed = read_back(parse_escpos(encode_receipt(evil)))
    assert not printed.rejected
    assert "Shop?i" in printed.lines
    assert any(line.startswith("Gum?V?") for line in printed.lines)
    assert "Receipt R?1" in printed.lines
    assert [c for c in parse_escpos(encode_receipt(evil)) if isinstance(c, Cut)] == [
        Cut(partial=True)
    ]


# -- the receipt --------------------------------------------------------------------------------


def test_receipt_layout_starts_with_init_and_ends_with_a_partial_cut() -> None:
    wire = encode_receipt(RECEIPT)
    assert wire.startswith(INIT + b"\x1ba\x01\x1bE\x01\x1d!\x01StoreLink Market\n")
    assert wire.endswith(b"\n\n\n\x1dV\x01")
    assert b"2 x Milk 1L" + b" " * 27 + b"3.98\n" in wire
    assert b"\x1bE\x01TOTAL" + b" " * 33 + b"7.48\n\x1bE\x00" in wire
    assert encode_qr(RECEIPT.qr_url) in wire


def test_receipt_round_trips_through_the_parser() -> None:
    commands = parse_escpos(encode_receipt(RECEIPT, width=32))
    assert not [c for c in commands if isinstance(c, Rejected)]
    assert commands[:4] == [Init(), Align("centre"), Bold(True), CharSize(1, 2)]
    assert [c for c in commands if isinstance(c, QrModel | QrModuleSize | QrErrorCorrection)] == [
        QrModel(2),
        QrModuleSize(6),
        QrErrorCorrection("M"),
    ]
    assert commands[-1] == Cut(partial=True)
    printed = read_back(commands)
    text = [line for line in printed.lines if line.strip()]
    assert text == [
        "StoreLink Market",
        "-" * 32,
        "2 x Milk 1L                 3.98",
        "Sourdough bread             3.50",
        "-" * 32,
        "TOTAL                       7.48",
        "Receipt R-0001",
    ]
    assert all(len(line) <= 32 for line in printed.lines)
    assert printed.qr == "https://r.example/1"
    assert printed.cut


def test_long_item_names_are_cut_to_the_paper_width() -> None:
    receipt = Receipt("S", (("A very long product name " * 4, 3, -150),), -450, "R", "u")
    printed = read_back(parse_escpos(encode_receipt(receipt, width=20)))
    assert "3 x A very lon -4.50" in printed.lines  # 20 columns exactly


def test_a_receipt_whose_url_cannot_be_a_qr_code_is_refused() -> None:
    with pytest.raises(FrameError):
        encode_receipt(Receipt("S", (), 0, "R", "https://r.example/" + "x" * 3000))


@pytest.mark.parametrize(
    ("status", "byte"),
    [(PaperStatus.PRESENT, 0x12), (PaperStatus.NEAR_END, 0x1E), (PaperStatus.OUT, 0x72)],
)
def test_paper_status_bytes(status: PaperStatus, byte: int) -> None:
    assert encode_paper_status(status) == bytes([byte])
    assert decode_paper_status(byte) is status


def test_paper_out_with_near_end_bits_is_out_and_bad_fixed_bits_are_refused() -> None:
    assert decode_paper_status(0x7E) is PaperStatus.OUT
    with pytest.raises(FrameError):
        decode_paper_status(0xFF)


# -- the parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "commands"),
    [
        (b"\x1b@", [Init()]),
        (b"\x1ba\x32\x1bE\x03", [Align("right"), Bold(True)]),
        (b"ab\r\ncd", [Text(b"ab"), LineFeed(), Text(b"cd")]),
        (b"\x1dV\x00\x1dVB\x05", [Cut(partial=False), Cut(partial=True, feed=5)]),
        (b"\x10\x04\x04", [StatusRequest(4)]),
        (b"\x1d(k\x04\x001P0x\x1d(k\x03\x001Q0", [QrStore(b"x"), QrPrint()]),
    ],
)
def test_parser_recognises_commands(wire: bytes, commands: list[Command]) -> None:
    assert parse_escpos(wire) == commands


@pytest.mark.parametrize(
    ("wire", "parsed", "reason"),
    [
        (b"ok\x1bZrest", [Text(b"ok")], "unknown command ESC 0x5A at 2"),
        (b"\x1dZ\x00", [], "unknown command GS 0x5A at 0"),
        (b"\x1ca", [], "FS"),
        (b"\x1ba", [], "cut short"),
        (b"\x1d(k\x10\x001P0abc", [], "cut short"),
        (b"\x1dV\x07", [], "unknown cut"),
    ],
)
def test_parser_stops_at_what_it_cannot_delimit(
    wire: bytes, parsed: list[Command], reason: str
) -> None:
    commands = parse_escpos(wire)
    assert commands[:-1] == parsed
    last = commands[-1]
    assert isinstance(last, Rejected)
    assert reason in last.reason


def test_parser_skips_bad_parameters_of_known_length() -> None:
    commands = parse_escpos(b"\x1ba\x07\x00\x1d!\xff\x1d(k\x03\x002Q0\x1d(k\x03\x001Z0ok")
    reasons = [c.reason for c in commands if isinstance(c, Rejected)]
    assert reasons == [
        "ESC a 7 at 0",
        "control byte 0x00 at 3",
        "GS ! 0xFF at 4",
        "GS ( k at 7 is not a QR code function",
        "QR function 90 with 1 parameter bytes at 15",
    ]
    assert commands[-1] == Text(b"ok")


def test_fuzzed_bytes_only_ever_yield_typed_commands() -> None:
    rng = random.Random(20240611)
    alphabet = bytes([0x1B, 0x1D, 0x10, 0x0A, 0x04, 0x28, 0x6B, 0x31, 0x50, 0x56, 0x61])
    for _ in range(3000):
        length = rng.randrange(0, 300)
        if rng.random() < 0.5:
            data = rng.randbytes(length)
        else:  # dense in command bytes, so real command paths are taken
            data = bytes(
                rng.choice(alphabet) if rng.random() < 0.6 else rng.randrange(256)
                for _ in range(length)
            )
        commands = parse_escpos(data)
        assert all(not isinstance(c, Rejected) or c.offset < len(data) for c in commands)
        read_back(commands)  # what the simulator does with it: must not raise either


def test_fuzzed_receipts_with_flipped_bytes() -> None:
    rng = random.Random(7)
    wire = encode_receipt(RECEIPT)
    for _ in range(2000):
        mutated = bytearray(wire)
        for _ in range(rng.randrange(1, 6)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if rng.random() < 0.3:
            del mutated[rng.randrange(len(mutated)) :]
        read_back(parse_escpos(bytes(mutated)))
