"""GS1 rules shared by the scanner and the camera: GTIN check digits and GS1 element strings.

Pure functions, no I/O. ``parse_element_string`` reads what a GS1-128, GS1 DataMatrix, GS1 QR
or GS1 DataBar symbol carries, e.g. ``01 09501101530003 17 241231 10 ABC123 <GS> 21 XYZ``
(variable-length fields end with GS, 0x1D), and keeps the four Application Identifiers the store
uses: (01) GTIN, (10) batch/lot, (17) expiry date, (21) serial. The AI table (which AIs have a
fixed length) comes from ``biip``; the GTIN check digit is checked here, because biip only notes
a bad one and we refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from biip import BiipException
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

GS = "\x1d"
"""The GS1 field separator (FNC1 in the symbol), ends a variable-length element."""

GTIN_LENGTHS = (8, 12, 13, 14)


class GS1Error(ValueError):
    """Not a valid GTIN or GS1 element string; the message says why."""


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(digits: str) -> bool:
    return (
        len(digits) in GTIN_LENGTHS
        and digits.isascii()
        and digits.isdigit()
        and gtin_check_digit(digits[:-1]) == int(digits[-1])
    )


def normalise_gtin(digits: str) -> str:
    """GTIN-8/12/13/14 as the 14-digit form the store keys stock by; GS1Error if invalid."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) not in GTIN_LENGTHS:
        raise GS1Error(f"not a GTIN-8/12/13/14: {digits!r}")
    expected = gtin_check_digit(digits[:-1])
    if expected != int(digits[-1]):
        raise GS1Error(f"bad GTIN check digit in {digits}: expected {expected}")
    return digits.zfill(14)


@dataclass(frozen=True, slots=True)
class GS1Fields:
    """The Application Identifiers the store acts on (others are parsed past and ignored)."""

    gtin: str | None = None  # (01), normalised GTIN-14
    batch: str | None = None  # (10)
    expiry: date | None = None  # (17); day 00 means the last day of the month
    serial: str | None = None  # (21)


def parse_element_string(text: str) -> GS1Fields:
    """Parse a GS1 element string (AIs concatenated, GS after variable-length fields)."""
    if not text:
        raise GS1Error("empty GS1 element string")
    try:
        message = GS1Message.parse(text)
    except BiipException as exc:
        raise GS1Error(f"bad GS1 element string: {exc}") from exc
    return _fields(message.element_strings)


def _fields(elements: Iterable[GS1ElementString]) -> GS1Fields:
    fields: dict[str, str] = {}
    expiry: date | None = None
    for element in elements:
        ai = element.ai.ai
        if ai in fields or (ai == "17" and expiry is not None):
            raise GS1Error(f"AI ({ai}) appears twice")
        if ai == "17":
            if element.date is None:
                raise GS1Error(f"bad expiry date {element.value!r}")
            expiry = element.date
        elif ai in ("01", "10", "21"):
            fields[ai] = element.value
    gtin = normalise_gtin(fields["01"]) if "01" in fields else None
    return GS1Fields(gtin=gtin, batch=fields.get("10"), expiry=expiry, serial=fields.get("21"))


def parse_digital_link(text: str) -> GS1Fields | None:
    """The fields of a GS1 Digital Link URI (``https://id.gs1.org/01/…``), or None if ``text``
    is not one. Many QR codes are plain URLs: those are not errors, they just carry no GTIN."""
    if "/01/" not in text or not text.startswith(("http://", "https://")):
        return None
    try:
        return _fields(GS1DigitalLinkURI.parse(text).element_strings)
    except (BiipException, GS1Error):
        return None
