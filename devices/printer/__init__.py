"""ESC/POS receipt printers on the network (raw TCP port 9100), with a QR code for the
digital receipt.

``protocol`` (pure: receipt layout, ESC/POS and QR command bytes, a parser), ``transport`` (the
TCP connection), ``client`` (``ReceiptPrinter``, what the agent calls) and ``simulator``
(``PrinterSimulator``, a printer on 127.0.0.1).
"""

from devices.printer.client import ReceiptPrinter
from devices.printer.parse import (
    PrintedReceipt,
    parse_escpos,
)
from devices.printer.protocol import (
    PaperStatus,
    Receipt,
    ReceiptLine,
    encode_qr,
    encode_receipt,
)

__all__ = [
    "PaperStatus",
    "PrintedReceipt",
    "Receipt",
    "ReceiptLine",
    "ReceiptPrinter",
    "encode_qr",
    "encode_receipt",
    "parse_escpos",
]
