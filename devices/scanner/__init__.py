"""Barcode scanners in serial/USB-CDC text mode: AIM symbology ids, GTINs, GS1 element strings.

``protocol`` (pure framer and ``encode_scan``), ``gs1`` (GTIN check digits, GS1 AIs, shared
with the camera), ``transport`` (the serial line), ``client`` (``ScannerClient``, what the agent
calls) and ``simulator`` (``ScannerSimulator`` on a pty).
"""

from devices.scanner.client import ScannerClient
from devices.scanner.protocol import Rejected, Scan, ScanFramer, Symbology, encode_scan

__all__ = ["Rejected", "Scan", "ScanFramer", "ScannerClient", "Symbology", "encode_scan"]
