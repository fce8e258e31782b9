"""``TagRead``: one sighting of one tag, what every RFID reader client hands the agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TagRead:
    """A tag seen by a reader.

    ``rssi`` is what the reader reports: dBm for LLRP readers, the reader's own RSSI byte
    (larger is stronger) for Chafon readers that send one, None when the reader sends none.
    """

    epc_hex: str  # upper-case hex of the EPC bytes, as read
    antenna: int  # 1-based antenna port (after the reader's antenna map); 0 if unknown
    rssi: int | None
    reader_id: str
    seen_at: datetime  # UTC
