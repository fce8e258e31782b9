"""Counters every device client keeps, which the agent reports as device health."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class DeviceStats:
    """Frames accepted and rejected, and when the last good one arrived. Thread-safe."""

    frames: int = 0
    rejected: int = 0
    last_frame_at: datetime | None = None
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def accepted(self, count: int = 1) -> None:
        with self._lock:
            self.frames += count
            self.last_frame_at = datetime.now(UTC)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected += 1
            self.last_error = reason
