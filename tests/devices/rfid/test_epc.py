"""SGTIN-96 decoding against the GS1 Tag Data Standard, and non-SGTIN pass-through."""

from __future__ import annotations

import pytest

from devices.errors import FrameError
from devices.rfid.epc import RawEpc, Sgtin96, decode_epc, encode_sgtin96, gs1_check_digit


def test_gs1_tds_example_decodes_to_gtin_and_serial() -> None:
    tag = decode_epc("3074257BF7194E4000001A85")
    assert isinstance(tag, Sgtin96)
    assert tag.uri == "urn:epc:id:sgtin:0614141.812345.6789"
    assert tag.gtin == "80614141123458"
    assert tag.serial == 6789
    assert tag.filter_value == 3
    assert tag.partition == 5


@pytest.mark.parametrize(
    "epc",
    [
        bytes.fromhex("3074257BF7194E4000001A85"),
        "3074257bf7194e4000001a85",  # sllurp's lower-case hex
        bytearray.fromhex("3074257BF7194E4000001A85"),
    ],
)
def test_bytes_and_hex_of_any_case_decode_alike(epc: bytes | str) -> None:
    tag = decode_epc(epc)
    assert isinstance(tag, Sgtin96)
    assert tag.epc_hex == "3074257BF7194E4000001A85"


def test_a_tag_captured_from_a_real_reader_decodes() -> None:
    # EPC from a UHFReader288 capture (see test_chafon); check digit 7 worked by hand.
    tag = decode_epc("3034B708AC397E0000000649")
    assert isinstance(tag, Sgtin96)
    assert tag.uri == "urn:epc:id:sgtin:2998827.058872.1609"
    assert tag.gtin == "02998827588727"


@pytest.mark.parametrize(
    ("company_prefix", "item_ref"),
    [
        ("061414112345", "8"),  # partition 0: 12-digit prefix
        ("06141411234", "81"),
        ("0614141123", "812"),
        ("061414112", "8123"),
        ("06141411", "81234"),
        ("0614141", "812345"),
        ("614141", "8123456"),  # partition 6: 6-digit prefix
    ],
)
@pytest.mark.parametrize("serial", [0, 6789, (1 << 38) - 1])
def test_every_partition_round_trips(company_prefix: str, item_ref: str, serial: int) -> None:
    epc = encode_sgtin96(company_prefix, item_ref, serial, filter_value=1)
    tag = decode_epc(epc)
    assert isinstance(tag, Sgtin96)
    assert tag.partition == 12 - len(company_prefix)
    assert (tag.company_prefix, tag.item_reference, tag.serial) == (
        company_prefix,
        item_ref,
        serial,
    )
    assert tag.filter_value == 1
    gtin13 = item_ref[0] + company_prefix + item_ref[1:]
    assert tag.gtin == gtin13 + str(gs1_check_digit(gtin13))
    assert len(tag.gtin) == 14


def test_encoder_reproduces_the_tds_example() -> None:
    assert encode_sgtin96("0614141", "812345", 6789, filter_value=3).hex().upper() == (
        "3074257BF7194E4000001A85"
    )


@pytest.mark.parametrize(
    "epc",
    [
        "E2003412B802011526606C50",  # a factory TID-style EPC (header E2)
        "3534257BF7194E4000001A85",  # SGTIN-198 / other header
        "3074257BF7194E4000001A",  # header 0x30 but 80 bits: not SGTIN-96
        "3074257BF7194E4000001A8500",  # 104 bits
        "111001BA",
        "",
    ],
)
def test_non_sgtin96_epcs_pass_through(epc: str) -> None:
    assert decode_epc(epc) == RawEpc(epc.upper())


def _with_fields(partition: int, company: int, item: int) -> str:
    item_bits = {0: 4, 1: 7, 2: 10, 3: 14, 4: 17, 5: 20, 6: 24}
    ir_bits = item_bits.get(partition, 24)
    value = (0x30 << 88) | (1 << 85) | (partition << 82)
    value |= company << (38 + ir_bits) | item << 38 | 42
    return f"{value:024X}"


@pytest.mark.parametrize(
    ("epc", "reason"),
    [
        (_with_fields(7, 1, 1), "partition 7"),
        (_with_fields(6, 999_999 + 1, 1), "company prefix 1000000 has more than 6 digits"),
        (_with_fields(0, 10**12, 1), "more than 12 digits"),
        (_with_fields(5, 614141, 10**6), "item reference 1000000 has more than 6 digits"),
        (_with_fields(0, 614141, 10), "item reference 10 has more than 1 digits"),
        ("30zz257BF7194E4000001A85", "not hex"),
    ],
)
def test_malformed_sgtin_is_rejected_with_a_reason(epc: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_epc(epc)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("12345", "12345678", 1), "6..12 digits"),
        (("0614141", "81234", 1), "6 digits"),
        (("0614141", "812345", 1 << 38), "38 bits"),
        (("06141A1", "812345", 1), "decimal digits"),
    ],
)
def test_encoder_refuses_what_sgtin96_cannot_carry(
    args: tuple[str, str, int], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        encode_sgtin96(*args)
