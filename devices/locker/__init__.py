"""Smart-locker lock-control boards (Kerong KR-CU16 family over RS485).

``protocol`` (pure frames and status decoding), ``transport`` (the serial line), ``client``
(``LockerBoard``, the bus owner the agent calls) and ``simulator`` (a faulty board on a pty).
"""

from devices.locker.client import LockerBoard, LockerCounters, UnlockResult
from devices.locker.protocol import BoardStatus, Polarity, Sensors

__all__ = ["BoardStatus", "LockerBoard", "LockerCounters", "Polarity", "Sensors", "UnlockResult"]
