"""Reading ESC/POS back: the commands in a byte stream, and what a printer would show.

Used by the printer simulator and the tests: the encoder lives in ``protocol``; this walks
bytes the way a printer does, and never raises: unknown or cut-short sequences come back as
``Rejected`` with the offset, so a simulator can report garbage instead of crashing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from devices.printer.protocol import (
    CR,
    DLE,
    ENCODING,
    EOT,
    ESC,
    FS,
    GS,
    LF,
    QR_MAX_BYTES,
    EcLevel,
)

# -- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode(ENCODING)


@dataclass(frozen=True, slots=True)
class LineFeed:
    pass


@dataclass(frozen=True, slots=True)
class Init:
    pass


@dataclass(frozen=True, slots=True)
class Align:
    justify: Literal["left", "centre", "right"]


@dataclass(frozen=True, slots=True)
class Bold:
    on: bool


@dataclass(frozen=True, slots=True)
class CharSize:
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool
    feed: int = 0


@dataclass(frozen=True, slots=True)
class StatusRequest:
    n: int  # 1 printer, 2 offline cause, 3 error cause, 4 roll paper sensor


@dataclass(frozen=True, slots=True)
class QrModel:
    model: Literal[1, 2, 3]  # 3 = micro QR


@dataclass(frozen=True, slots=True)
class QrModuleSize:
    dots: int


@dataclass(frozen=True, slots=True)
class QrErrorCorrection:
    level: EcLevel


@dataclass(frozen=True, slots=True)
class QrStore:
    data: bytes


@dataclass(frozen=True, slots=True)
class QrPrint:
    pass


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes at ``offset`` that are not a command this parser knows, and why."""

    reason: str
    offset: int


Command = (
    Text
    | LineFeed
    | Init
    | Align
    | Bold
    | CharSize
    | Cut
    | StatusRequest
    | QrModel
    | QrModuleSize
    | QrErrorCorrection
    | QrStore
    | QrPrint
    | Rejected
)

_JUSTIFY: dict[int, Literal["left", "centre", "right"]] = {
    0: "left",
    1: "centre",
    2: "right",
    48: "left",
    49: "centre",
    50: "right",
}
_CUT_WITH_FEED = frozenset((65, 66, 97, 98, 103, 104))
_CUT_PARTIAL = frozenset((1, 49, 66, 98, 104))


class _Stop(Exception):
    """Internal: the rest of the stream cannot be delimited."""

    def __init__(self, rejected: Rejected) -> None:
        self.rejected = rejected


def parse_escpos(data: bytes) -> list[Command]:
    """The commands in ``data``, in order; never raises. See the module docstring for how
    garbage is reported (``Rejected``)."""
    commands: list[Command] = []
    at = 0
    end = len(data)
    try:
        while at < end:
            byte = data[at]
            if byte >= 0x20:
                start = at
                while at < end and data[at] >= 0x20:
                    at += 1
                commands.append(Text(data[start:at]))
            elif byte == LF:
                commands.append(LineFeed())
                at += 1
            elif byte == CR:
                at += 1  # ignored by the printer unless auto line feed is on
            elif byte == ESC:
                at = _parse_esc(data, at, commands)
            elif byte == GS:
                at = _parse_gs(data, at, commands)
            elif byte == DLE:
                at = _parse_dle(data, at, commands)
            elif byte == FS:
                raise _Stop(Rejected(f"unsupported FS sequence at {at}", at))
            else:
                commands.append(Rejected(f"control byte 0x{byte:02X} at {at}", at))
                at += 1
    except _Stop as stop:
        commands.append(stop.rejected)
    return commands


def _need(data: bytes, at: int, count: int, name: str) -> bytes:
    if at + count > len(data):
        raise _Stop(Rejected(f"{name} at {at} is cut short", at))
    return data[at : at + count]


def _parse_esc(data: bytes, at: int, out: list[Command]) -> int:
    head = _need(data, at, 2, "ESC")
    cmd = head[1]
    if cmd == ord("@"):
        out.append(Init())
        return at + 2
    if cmd == ord("a"):
        n = _need(data, at, 3, "ESC a")[2]
        out.append(Align(_JUSTIFY[n]) if n in _JUSTIFY else Rejected(f"ESC a {n} at {at}", at))
        return at + 3
    if cmd == ord("E"):
        out.append(Bold(bool(_need(data, at, 3, "ESC E")[2] & 1)))
        return at + 3
    raise _Stop(Rejected(f"unknown command ESC 0x{cmd:02X} at {at}", at))


def _parse_dle(data: bytes, at: int, out: list[Command]) -> int:
    head = _need(data, at, 2, "DLE")
    if head[1] != EOT:
        raise _Stop(Rejected(f"unknown command DLE 0x{head[1]:02X} at {at}", at))
    n = _need(data, at, 3, "DLE EOT")[2]
    out.append(StatusRequest(n) if 1 <= n <= 4 else Rejected(f"DLE EOT {n} at {at}", at))
    return at + 3


def _parse_gs(data: bytes, at: int, out: list[Command]) -> int:
    cmd = _need(data, at, 2, "GS")[1]
    if cmd == ord("!"):
        n = _need(data, at, 3, "GS !")[2]
        width, height = (n >> 4) + 1, (n & 0x0F) + 1
        if width <= 8 and height <= 8:
            out.append(CharSize(width, height))
        else:
            out.append(Rejected(f"GS ! 0x{n:02X} at {at}", at))
        return at + 3
    if cmd == ord("V"):
        m = _need(data, at, 3, "GS V")[2]
        if m in (0, 1, 48, 49):
            out.append(Cut(partial=m in _CUT_PARTIAL))
            return at + 3
        if m in _CUT_WITH_FEED:
            n = _need(data, at, 4, "GS V")[3]
            out.append(Cut(partial=m in _CUT_PARTIAL, feed=n))
            return at + 4
        raise _Stop(Rejected(f"unknown cut GS V {m} at {at}", at))
    if cmd == ord("(") and _need(data, at, 3, "GS (")[2] == ord("k"):
        header = _need(data, at, 5, "GS ( k")
        size = header[3] | header[4] << 8
        body = _need(data, at + 5, size, "GS ( k")
        out.append(_qr_command(body, at))
        return at + 5 + size
    raise _Stop(Rejected(f"unknown command GS 0x{cmd:02X} at {at}", at))


def _qr_command(body: bytes, at: int) -> Command:
    if len(body) < 2 or body[0] != 49:
        return Rejected(f"GS ( k at {at} is not a QR code function", at)
    fn, params = body[1], body[2:]
    if fn == 65 and len(params) == 2 and params[0] in (49, 50, 51) and params[1] == 0:
        model: Literal[1, 2, 3] = (1, 2, 3)[params[0] - 49]
        return QrModel(model)
    if fn == 67 and len(params) == 1 and 1 <= params[0] <= 16:
        return QrModuleSize(params[0])
    if fn == 69 and len(params) == 1 and 48 <= params[0] <= 51:
        level: EcLevel = ("L", "M", "Q", "H")[params[0] - 48]
        return QrErrorCorrection(level)
    if fn == 80 and len(params) >= 2 and params[0] == 48 and len(params) - 1 <= QR_MAX_BYTES:
        return QrStore(params[1:])
    if fn == 81 and params == b"0":
        return QrPrint()
    return Rejected(f"QR function {fn} with {len(params)} parameter bytes at {at}", at)


# -- what comes out of the printer --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrintedReceipt:
    """One job as it would come out of the printer: the text lines (blank ones included), the
    QR codes printed (their payloads), whether the paper was cut, and any garbage."""

    lines: tuple[str, ...]
    qr_codes: tuple[str, ...]
    cut: bool
    rejected: tuple[Rejected, ...] = ()

    @property
    def qr(self) -> str | None:
        return self.qr_codes[0] if self.qr_codes else None


def read_back(commands: Iterable[Command]) -> PrintedReceipt:
    """What a printer makes of ``commands`` (styles are not kept, only what is printed)."""
    lines: list[str] = []
    pending: list[str] = []
    qr_codes: list[str] = []
    stored = b""
    cut = False
    rejected: list[Rejected] = []
    for command in commands:
        if isinstance(command, Text):
            pending.append(command.text)
        elif isinstance(command, LineFeed):
            lines.append("".join(pending))
            pending.clear()
        elif isinstance(command, QrStore):
            stored = command.data
        elif isinstance(command, QrPrint) and stored:
            qr_codes.append(stored.decode("utf-8", errors="replace"))
        elif isinstance(command, Cut):
            cut = True
        elif isinstance(command, Rejected):
            rejected.append(command)
    if pending:
        lines.append("".join(pending))
    return PrintedReceipt(tuple(lines), tuple(qr_codes), cut, tuple(rejected))
