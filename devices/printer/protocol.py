"""ESC/POS receipt printers: receipt layout, the command bytes, and a small parser. Pure, no I/O.

``client.ReceiptPrinter`` sends ``encode_receipt(...)`` to the printer's raw port (TCP 9100);
``simulator.PrinterSimulator`` reads the same bytes back with ``parse_escpos`` and
``read_back``. The commands used (Epson ESC/POS; bytes as python-escpos sends them)::

    ESC @               1B 40                 initialise: clear the buffer, reset modes
    ESC a n             1B 61 n               justify: 0 left, 1 centre, 2 right (or 48-50)
    ESC E n             1B 45 n               bold on when bit 0 of n is set
    GS ! n              1D 21 n               character size: high nibble width-1,
                                              low nibble height-1 (0x01 = double height)
    LF                  0A                    print the line buffer and feed one line
    GS V m              1D 56 m               cut: m 0/48 full, 1/49 partial
    GS V m n            1D 56 m n             m 65/66 (feed n and cut), 97/98, 103/104
    DLE EOT n           10 04 n               real-time status; n = 4: roll paper sensor,
                                              answered at once with one byte (see below)

Native QR code, all through ``GS ( k pL pH cn fn [m] data`` with cn = 49 ('1', QR) and
pL + 256 * pH = the number of bytes after pH::

    fn 65 (165) model        1D 28 6B 04 00 31 41 n1 00    n1 49/50/51 = model 1/2/micro
    fn 67 (167) module size  1D 28 6B 03 00 31 43 n        n = 1-16 dots
    fn 69 (169) error corr.  1D 28 6B 03 00 31 45 n        n = 48-51 = L/M/Q/H
    fn 80 (180) store data   1D 28 6B pL pH 31 50 30 d...  pL pH = len(d) + 3, 1-7089 bytes
    fn 81 (181) print        1D 28 6B 03 00 31 51 30

e.g. ``encode_qr("1234", module_size=3, ec="L")`` is python-escpos's native-QR test vector
``1D 28 6B 04 00 31 41 32 00 | 1D 28 6B 03 00 31 43 03 | 1D 28 6B 03 00 31 45 30 |
1D 28 6B 07 00 31 50 30 31 32 33 34 | 1D 28 6B 03 00 31 51 30``.

The answer to ``DLE EOT 4`` is one byte ``0xx1 xx10``: bits 2-3 set = paper near its end,
bits 5-6 set = no paper (0x12 paper present, 0x1E near end, 0x72 out).

Text is code page 437 (the printers' power-on table). Characters CP437 lacks print as ``?``,
and control characters in receipt text are replaced too, so a product name can never smuggle
a command onto the wire.

``parse_escpos`` recognises exactly these commands. A sequence whose length is known but whose
parameter is wrong (``ESC a 7``) becomes a ``Rejected`` and parsing goes on after it; an unknown
ESC/GS/DLE/FS sequence, or one cut short, ends the parse with a ``Rejected``: its length is
unknown, so nothing after it can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

from devices.errors import FrameError

ESC = 0x1B
GS = 0x1D
DLE = 0x10
EOT = 0x04
FS = 0x1C
LF = 0x0A
CR = 0x0D

INIT = b"\x1b@"
PARTIAL_CUT = b"\x1dV\x01"
FULL_CUT = b"\x1dV\x00"
PAPER_STATUS_REQUEST = b"\x10\x04\x04"
QR_MAX_BYTES = 7089  # GS ( k fn 80 limit: (pL + 256 pH) - 3
ENCODING = "cp437"

EcLevel = Literal["L", "M", "Q", "H"]
_EC_LEVELS = "LMQH"
# QR model 2, version 40 capacity per mode and error-correction level (ISO/IEC 18004).
_CAPACITY = {
    "numeric": {"L": 7089, "M": 5596, "Q": 3993, "H": 3057},
    "alphanumeric": {"L": 4296, "M": 3391, "Q": 2420, "H": 1852},
    "byte": {"L": 2953, "M": 2331, "Q": 1663, "H": 1273},
}
_ALPHANUMERIC = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


# -- receipts -----------------------------------------------------------------------------------


class ReceiptLine(NamedTuple):
    """One item: ``qty`` at ``price_cents`` each (the line shows ``qty * price_cents``)."""

    text: str
    qty: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """What goes on paper. ``qr_url`` is the digital receipt, printed as a QR code."""

    store_name: str
    lines: tuple[ReceiptLine, ...]
    total_cents: int
    receipt_id: str
    qr_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(ReceiptLine(*line) for line in self.lines))
        if not self.receipt_id:
            raise ValueError("a receipt needs a receipt_id")
        if not self.qr_url:
            raise ValueError("a receipt needs a qr_url")


def money(cents: int) -> str:
    """``1234`` → ``"12.34"``, ``-50`` → ``"-0.50"`` (no currency sign: CP437 has no €)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def encode_text(text: str) -> bytes:
    """CP437 bytes for ``text``; unencodable and control characters become ``?``."""
    clean = "".join("?" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)
    return clean.encode(ENCODING, errors="replace")


def columns(left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one line of ``width`` characters (left cut short if needed)."""
    room = width - len(right) - 1
    if room < 1:
        return right[-width:]
    return f"{left[:room]:<{room}} {right}"


def align(justify: Literal["left", "centre", "right"]) -> bytes:
    return bytes([ESC, ord("a"), ("left", "centre", "right").index(justify)])


def bold(on: bool) -> bytes:
    return bytes([ESC, ord("E"), 1 if on else 0])


def char_size(width: int = 1, height: int = 1) -> bytes:
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError("character width and height are 1-8")
    return bytes([GS, ord("!"), (width - 1) << 4 | (height - 1)])


def _qr_function(fn: int, params: bytes) -> bytes:
    size = len(params) + 2  # cn and fn count too
    return bytes([GS, ord("("), ord("k"), size & 0xFF, size >> 8, 49, fn]) + params


def qr_capacity(data: bytes, ec: EcLevel) -> int:
    """Most bytes of data like ``data`` a model 2 symbol holds at ``ec`` (single-mode bound)."""
    if data.isdigit():
        mode = "numeric"
    elif all(byte in _ALPHANUMERIC for byte in data):
        mode = "alphanumeric"
    else:
        mode = "byte"
    return _CAPACITY[mode][ec]


def encode_qr(data: str | bytes, *, module_size: int = 6, ec: EcLevel = "M") -> bytes:
    """The five GS ( k commands that print ``data`` as a model 2 QR code.

    Raises ``FrameError`` (a ``ValueError``) when the data cannot become a symbol: empty, more
    than the 7089 bytes a store command carries, or more than a version 40 symbol holds at
    ``ec``; ``ValueError`` for a module size outside 1-16 or an unknown level.
    """
    if ec not in _EC_LEVELS:
        raise ValueError(f"QR error correction must be one of L, M, Q, H, not {ec!r}")
    if not 1 <= module_size <= 16:
        raise ValueError(f"QR module size must be 1-16 dots, not {module_size}")
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not payload:
        raise FrameError("QR data is empty")
    if len(payload) > QR_MAX_BYTES:
        raise FrameError(
            f"QR data is {len(payload)} bytes; the store command carries at most {QR_MAX_BYTES}"
        )
    capacity = qr_capacity(payload, ec)
    if len(payload) > capacity:
        raise FrameError(
            f"QR data is {len(payload)} bytes; a QR code holds at most {capacity} "
            f"of these at error correction {ec}"
        )
    return b"".join(
        (
            _qr_function(65, bytes([50, 0])),  # model 2
            _qr_function(67, bytes([module_size])),
            _qr_function(69, bytes([48 + _EC_LEVELS.index(ec)])),
            _qr_function(80, b"0" + payload),
            _qr_function(81, b"0"),
        )
    )


def encode_receipt(receipt: Receipt, *, width: int = 42, module_size: int = 6) -> bytes:
    """The whole print job for ``receipt`` on paper ``width`` characters wide (42 = font A on
    80 mm paper); raises ``FrameError`` when the QR url cannot be a QR code."""
    if width < 16:
        raise ValueError("a receipt needs at least 16 columns")
    rule = encode_text("-" * width) + b"\n"
    out = [INIT, align("centre"), bold(True), char_size(height=2)]
    out += [encode_text(receipt.store_name[:width]), b"\n", char_size(), bold(False)]
    out += [align("left"), rule]
    for line in receipt.lines:
        label = line.text if line.qty == 1 else f"{line.qty} x {line.text}"
        out += [encode_text(columns(label, money(line.qty * line.price_cents), width)), b"\n"]
    out += [rule, bold(True), encode_text(columns("TOTAL", money(receipt.total_cents), width))]
    out += [b"\n", bold(False), b"\n", align("centre")]
    out += [encode_text(f"Receipt {receipt.receipt_id}"), b"\n"]
    out += [encode_qr(receipt.qr_url, module_size=module_size), b"\n", align("left")]
    out += [b"\n" * 3, PARTIAL_CUT]
    return b"".join(out)


# -- paper status -------------------------------------------------------------------------------


class PaperStatus(StrEnum):
    PRESENT = "present"
    NEAR_END = "near_end"
    OUT = "out"


_PAPER_BYTES = {PaperStatus.PRESENT: 0x12, PaperStatus.NEAR_END: 0x1E, PaperStatus.OUT: 0x72}


def encode_paper_status(status: PaperStatus) -> bytes:
    return bytes([_PAPER_BYTES[status]])


def decode_paper_status(byte: int) -> PaperStatus:
    """The answer to ``DLE EOT 4``; ``FrameError`` if its fixed bits are wrong."""
    if byte & 0x93 != 0x12:
        raise FrameError(f"0x{byte:02X} is not a paper sensor status byte")
    if byte & 0x60 == 0x60:
        return PaperStatus.OUT
    if byte & 0x0C == 0x0C:
        return PaperStatus.NEAR_END
    return PaperStatus.PRESENT
