"""Barcode scanners in serial (or USB-CDC) text mode: one read per line. Pure, no I/O.

A scanner sends every read as one line::

    ┌──────────┬─────────────┬───────────────────────────────────┬───────────────┐
    │ prefix   │ AIM id      │ data                              │ suffix        │
    │ 0..n B,  │ "]" + code  │ printable text; GS1 symbols put   │ CR (0D) or    │
    │ optional │ + modifier, │ GS (1D) after variable-length     │ CR LF (0D 0A) │
    │          │ optional    │ fields                            │               │
    └──────────┴─────────────┴───────────────────────────────────┴───────────────┘

    "]E04006381333931\\r"   5D 45 30 | 34 30 30 36 33 38 31 33 33 33 39 33 31 | 0D
    "]C101095011015300031724123110ABC123<GS>21XYZ\\r"   GS1-128: (01) (17) (10) GS (21)

``ScanFramer`` is fed bytes in whatever chunks the line delivers and returns, per complete line,
either a ``Scan`` or a ``Rejected(reason, raw)``: one bad line never blocks the lines after it.
Lines are split on the suffix only, never on a pause (a slow USB-serial adapter splits reads
mid-line). A line with no suffix after ``max_line`` bytes is rejected and the framer discards
up to the next suffix, then resyncs.

Line noise (NUL, 0xFF and control bytes a scanner emits when plugged in) before a read is
dropped; so are up to four stray bytes just before a known AIM id. A read that fails its rules
(EAN/UPC check digit, GS1 element string, non-printable bytes, not UTF-8) is rejected, never
"repaired". Reads without an AIM id are allowed (symbology ``UNKNOWN``); a bare 8/12/13/14-digit
read with a valid check digit is then taken as a GTIN, one with a bad check digit is passed
through without a GTIN (it may be a Code 128 of digits).

``encode_scan`` builds the bytes a scanner sends; the simulator uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from devices.scanner.gs1 import (
    GS,
    GTIN_LENGTHS,
    GS1Error,
    GS1Fields,
    is_valid_gtin,
    normalise_gtin,
    parse_digital_link,
    parse_element_string,
)

CR = b"\r"
CRLF = b"\r\n"
DEFAULT_MAX_LINE = 4096
_STRAY_BEFORE_AIM = 4  # how many stray bytes before a known AIM id are dropped as noise
_LINE_NOISE = bytes([*range(0x20), 0x7F, 0xFF])


class Symbology(StrEnum):
    EAN_13 = "EAN_13"
    UPC_A = "UPC_A"
    EAN_8 = "EAN_8"
    CODE_128 = "CODE_128"
    GS1_128 = "GS1_128"
    DATAMATRIX = "DATAMATRIX"
    GS1_DATAMATRIX = "GS1_DATAMATRIX"
    QR = "QR"
    GS1_QR = "GS1_QR"
    GS1_DATABAR = "GS1_DATABAR"
    CODE_39 = "CODE_39"
    ITF = "ITF"
    OTHER = "OTHER"  # an AIM id this table does not know
    UNKNOWN = "UNKNOWN"  # the scanner sent no AIM id


_AIM_IDS: dict[str, Symbology] = {
    "]E0": Symbology.EAN_13,  # EAN-13, or UPC-A (12 digits, or 13 with a leading 0)
    "]E3": Symbology.EAN_13,  # EAN-13/UPC-A with a 2- or 5-digit add-on
    "]E4": Symbology.EAN_8,
    **{f"]C{m}": Symbology.CODE_128 for m in "024"},
    "]C1": Symbology.GS1_128,
    **{f"]d{m}": Symbology.DATAMATRIX for m in "0146"},
    **{f"]d{m}": Symbology.GS1_DATAMATRIX for m in "25"},
    **{f"]Q{m}": Symbology.QR for m in "01246"},
    **{f"]Q{m}": Symbology.GS1_QR for m in "35"},
    "]e0": Symbology.GS1_DATABAR,
    **{f"]A{m}": Symbology.CODE_39 for m in "01234567"},
    **{f"]I{m}": Symbology.ITF for m in "013"},
}
_GS1_SYMBOLOGIES = {
    Symbology.GS1_128,
    Symbology.GS1_DATAMATRIX,
    Symbology.GS1_QR,
    Symbology.GS1_DATABAR,
}


@dataclass(frozen=True, slots=True)
class Scan:
    """One good read. ``gtin`` is the normalised GTIN-14 when the read carries one."""

    symbology: Symbology
    data: str  # the text after the AIM id, GS (0x1D) kept
    aim_id: str | None = None
    gtin: str | None = None
    batch: str | None = None  # GS1 AI (10)
    expiry: date | None = None  # GS1 AI (17)
    serial: str | None = None  # GS1 AI (21)
    raw: bytes = b""  # the line as received, without the suffix


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a valid read, and why."""

    reason: str
    raw: bytes


ScanItem = Scan | Rejected


def encode_scan(
    data: str | bytes, aim_id: str = "]E0", *, prefix: bytes = b"", suffix: bytes = CR
) -> bytes:
    """The bytes a scanner sends for one read (``aim_id=""`` for a scanner that sends none)."""
    payload = data.encode() if isinstance(data, str) else data
    return prefix + aim_id.encode("ascii") + payload + suffix


def _is_aim_id(candidate: bytes) -> bool:
    return (
        len(candidate) == 3
        and candidate[0:1] == b"]"
        and chr(candidate[1]).isascii()
        and chr(candidate[1]).isalpha()
        and chr(candidate[2]).isascii()
        and chr(candidate[2]).isalnum()
    )


def _split_aim(content: bytes) -> tuple[str | None, bytes]:
    if _is_aim_id(content[:3]):
        return content[:3].decode("ascii"), content[3:]
    # A few stray bytes glued to the front of a read (line noise that happens to be
    # printable); only a known AIM id counts, so data containing "]" is left alone.
    for start in range(1, _STRAY_BEFORE_AIM + 1):
        candidate = content[start : start + 3]
        if candidate.decode("latin-1") in _AIM_IDS:
            return candidate.decode("ascii"), content[start + 3 :]
    return None, content


def _gtin_read(symbology: Symbology, digits: str) -> tuple[Symbology, str]:
    """EAN/UPC/ITF-14 data: the symbology refined by length, and the GTIN-14."""
    if not (digits.isascii() and digits.isdigit()):
        raise GS1Error(f"{symbology} data must be digits: {digits!r}")
    if symbology is Symbology.EAN_13:
        if len(digits) in (15, 18):  # EAN-13 + add-on: the add-on is not part of the GTIN
            digits = digits[:13]
        if len(digits) == 12:
            symbology = Symbology.UPC_A
        elif len(digits) != 13:
            raise GS1Error(f"EAN-13/UPC-A data must be 12 or 13 digits, got {len(digits)}")
    elif symbology is Symbology.EAN_8 and len(digits) != 8:
        raise GS1Error(f"EAN-8 data must be 8 digits, got {len(digits)}")
    return symbology, normalise_gtin(digits)


def decode_line(line: bytes, prefix: bytes = b"") -> ScanItem | None:
    """One line without its suffix → a ``Scan`` or a ``Rejected``; None for an empty line
    (the LF of a CR LF when the framer splits on CR)."""
    content = line.rstrip(b"\r\n")
    if prefix:
        at = content.find(prefix)
        if at < 0:
            content = content.lstrip(_LINE_NOISE)
            return Rejected("missing prefix", line) if content else None
        content = content[at + len(prefix) :]
    else:
        content = content.lstrip(_LINE_NOISE)
        if not content:
            return None if not line.strip(b"\r\n\x00") else Rejected("line noise", line)
    aim_id, payload = _split_aim(content)
    for index, byte in enumerate(payload):
        if (byte < 0x20 and byte != 0x1D) or byte == 0x7F:
            return Rejected(f"non-printable byte 0x{byte:02X} at {index}", line)
    try:
        data = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected("not UTF-8 text", line)
    if not data:
        return Rejected("no data", line)
    symbology = Symbology.UNKNOWN if aim_id is None else _AIM_IDS.get(aim_id, Symbology.OTHER)
    try:
        return _typed_scan(symbology, aim_id, data, line)
    except GS1Error as exc:
        return Rejected(str(exc), line)


def _typed_scan(symbology: Symbology, aim_id: str | None, data: str, raw: bytes) -> Scan:
    fields = GS1Fields()
    if symbology in (Symbology.EAN_13, Symbology.EAN_8):
        symbology, gtin = _gtin_read(symbology, data)
        fields = GS1Fields(gtin=gtin)
    elif symbology is Symbology.ITF and len(data) == 14:  # ITF-14 carries a GTIN-14
        fields = GS1Fields(gtin=normalise_gtin(data))
    elif symbology in _GS1_SYMBOLOGIES:
        # Some scanners send the leading FNC1 of a GS1 symbol as a GS.
        fields = parse_element_string(data.removeprefix(GS))
    elif symbology is Symbology.UNKNOWN and len(data) in GTIN_LENGTHS and is_valid_gtin(data):
        fields = GS1Fields(gtin=data.zfill(14))
    elif symbology in (Symbology.QR, Symbology.DATAMATRIX, Symbology.UNKNOWN):
        fields = parse_digital_link(data) or fields
    return Scan(
        symbology=symbology,
        data=data,
        aim_id=aim_id,
        gtin=fields.gtin,
        batch=fields.batch,
        expiry=fields.expiry,
        serial=fields.serial,
        raw=raw,
    )


class ScanFramer:
    """Splits a scanner's byte stream into reads. Feed it chunks; not thread-safe."""

    def __init__(
        self, *, prefix: bytes = b"", suffix: bytes = CR, max_line: int = DEFAULT_MAX_LINE
    ) -> None:
        if not suffix:
            raise ValueError("a scanner line needs a suffix (CR or CR LF)")
        if max_line < 16:
            raise ValueError("max_line must leave room for a read")
        self.prefix = prefix
        self.suffix = suffix
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False  # inside an overlong line: drop bytes up to the next suffix

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a half-received line (after reconnecting)."""
        self._buffer.clear()
        self._discarding = False

    def feed(self, chunk: bytes) -> list[ScanItem]:
        """The reads completed by ``chunk``, in the order they arrived."""
        self._buffer += chunk
        items: list[ScanItem] = []
        while (end := self._buffer.find(self.suffix)) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + len(self.suffix)]
            if self._discarding:
                self._discarding = False  # the tail of an overlong line, already rejected
                continue
            if len(line) > self.max_line:
                items.append(self._overlong(line))
                continue
            item = decode_line(line, self.prefix)
            if item is not None:
                items.append(item)
        if len(self._buffer) > self.max_line:
            if not self._discarding:
                items.append(self._overlong(bytes(self._buffer)))
                self._discarding = True
            # Keep what could be the start of a suffix split across chunks (the CR of CR LF).
            del self._buffer[: len(self._buffer) - (len(self.suffix) - 1)]
        return items

    def _overlong(self, line: bytes) -> Rejected:
        return Rejected(f"line longer than {self.max_line} bytes without suffix", line[:64])
