"""EPC decoding: SGTIN-96 to GTIN + serial, everything else passed through untouched.

Pure functions, called by the RFID clients (and by the agent when it maps a tag to a product).
The layout (GS1 EPC Tag Data Standard, SGTIN-96)::

    bits:  8        3        3          20..40           24..4          38
         +--------+--------+-----------+----------------+--------------+-------------+
         | header | filter | partition | company prefix | item ref     | serial      |
         | 0x30   |        | 0..6      | (12..6 digits) | (1..7 digits)| (integer)   |
         +--------+--------+-----------+----------------+--------------+-------------+

The item reference field carries the GTIN's indicator digit in front, so the GTIN-14 is
``indicator + company prefix + rest of item ref + check digit``.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.errors import FrameError

SGTIN96_HEADER = 0x30

# partition -> (company prefix bits, digits, item reference bits, digits)
_PARTITIONS: dict[int, tuple[int, int, int, int]] = {
    0: (40, 12, 4, 1),
    1: (37, 11, 7, 2),
    2: (34, 10, 10, 3),
    3: (30, 9, 14, 4),
    4: (27, 8, 17, 5),
    5: (24, 7, 20, 6),
    6: (20, 6, 24, 7),
}
_SERIAL_BITS = 38


@dataclass(frozen=True, slots=True)
class Sgtin96:
    """A decoded SGTIN-96: one serialised trade item."""

    epc_hex: str
    filter_value: int
    partition: int
    company_prefix: str
    item_reference: str
    serial: int

    @property
    def uri(self) -> str:
        """The pure-identity URI, ``urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial``."""
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.item_reference}.{self.serial}"

    @property
    def gtin(self) -> str:
        """GTIN-14: indicator digit, company prefix, item reference, check digit."""
        body = self.item_reference[0] + self.company_prefix + self.item_reference[1:]
        return body + str(gs1_check_digit(body))


@dataclass(frozen=True, slots=True)
class RawEpc:
    """An EPC that is not SGTIN-96 (another scheme, or a tag never encoded): its hex, as read."""

    epc_hex: str


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for ``digits`` (the number without its check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def decode_epc(epc: bytes | str) -> Sgtin96 | RawEpc:
    """Decode raw EPC bytes (or their hex) into an SGTIN-96, or pass them through as ``RawEpc``.

    Raises ``FrameError`` for hex that is not hex, and for an EPC whose header says SGTIN-96 but
    whose fields cannot be one (partition 7, a company prefix or item reference too large for its
    digits).
    """
    if isinstance(epc, str):
        try:
            raw = bytes.fromhex(epc)
        except ValueError as exc:
            raise FrameError(f"EPC {epc!r} is not hex") from exc
    else:
        raw = bytes(epc)
    epc_hex = raw.hex().upper()
    if len(raw) != 12 or raw[0] != SGTIN96_HEADER:
        return RawEpc(epc_hex)

    value = int.from_bytes(raw, "big")
    filter_value = (value >> 85) & 0b111
    partition = (value >> 82) & 0b111
    if partition not in _PARTITIONS:
        raise FrameError(f"SGTIN-96 {epc_hex}: partition {partition} is not defined")
    cp_bits, cp_digits, ir_bits, ir_digits = _PARTITIONS[partition]
    company = (value >> (_SERIAL_BITS + ir_bits)) & ((1 << cp_bits) - 1)
    item = (value >> _SERIAL_BITS) & ((1 << ir_bits) - 1)
    serial = value & ((1 << _SERIAL_BITS) - 1)
    if company >= 10**cp_digits:
        raise FrameError(
            f"SGTIN-96 {epc_hex}: company prefix {company} has more than {cp_digits} digits"
        )
    if item >= 10**ir_digits:
        raise FrameError(
            f"SGTIN-96 {epc_hex}: item reference {item} has more than {ir_digits} digits"
        )
    return Sgtin96(
        epc_hex=epc_hex,
        filter_value=filter_value,
        partition=partition,
        company_prefix=f"{company:0{cp_digits}d}",
        item_reference=f"{item:0{ir_digits}d}",
        serial=serial,
    )


def encode_sgtin96(company_prefix: str, item_ref: str, serial: int, filter_value: int = 1) -> bytes:
    """The 12 EPC bytes of an SGTIN-96 (for simulators, tests and tag printing).

    ``company_prefix`` has 6..12 digits and ``item_ref`` the 13 minus that (indicator digit
    first), as in the URI; raises ``ValueError`` for anything SGTIN-96 cannot carry.
    """
    if not (company_prefix.isdigit() and item_ref.isdigit()):
        raise ValueError("company prefix and item reference must be decimal digits")
    partition = 12 - len(company_prefix)
    if partition not in _PARTITIONS:
        raise ValueError(f"company prefix must have 6..12 digits, not {len(company_prefix)}")
    cp_bits, _, ir_bits, ir_digits = _PARTITIONS[partition]
    if len(item_ref) != ir_digits:
        raise ValueError(
            f"item reference must have {ir_digits} digits with a {len(company_prefix)}-digit"
            " company prefix"
        )
    if not 0 <= serial < 1 << _SERIAL_BITS:
        raise ValueError(f"serial must fit in {_SERIAL_BITS} bits")
    if not 0 <= filter_value <= 7:
        raise ValueError("filter value must be 0..7")
    value = SGTIN96_HEADER
    value = (value << 3) | filter_value
    value = (value << 3) | partition
    value = (value << cp_bits) | int(company_prefix)
    value = (value << ir_bits) | int(item_ref)
    value = (value << _SERIAL_BITS) | serial
    return value.to_bytes(12, "big")
