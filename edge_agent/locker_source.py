"""A locker board as a device-manager source: polls its status, and lends the board for opening.

The board client (``devices.locker``) owns the RS485 bus with its own worker thread; this
adapter creates it on ``open``, asks for the status every ``poll_interval_s`` (the status is
what the locker logic and the health report need), and closes it on ``close``. Door-open
commands go through ``board`` so they queue on the same bus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from devices.errors import DeviceUnavailable
from devices.locker.client import LockerBoard, UnlockResult
from devices.locker.protocol import BoardStatus, Polarity, Sensors
from devices.stats import DeviceStats
from edge_agent.device_config import LockerBoardConfig
from storelink_contract.common import utcnow

if TYPE_CHECKING:
    from edge_agent.device_manager import DeviceSlot


@dataclass(frozen=True, slots=True)
class BoardReading:
    """A board status and when it was asked for (the locker logic ignores readings taken
    before a door it opened afterwards)."""

    status: BoardStatus
    at: datetime


class LockerBoardSource:
    def __init__(self, config: LockerBoardConfig) -> None:
        self._config = config
        self.board: LockerBoard | None = None
        self.stats = DeviceStats()
        self._next_poll = 0.0
        self._idle = threading.Event()

    def open(self) -> None:
        config = self._config
        self.board = LockerBoard(
            config.url,
            board=config.board,
            baudrate=config.baudrate,
            polarity=Polarity(
                lock_open_bit=config.lock_open_bit, sensor_active_bit=config.sensor_active_bit
            ),
            sensors=Sensors(config.sensors),
        )
        self._next_poll = 0.0

    def read(self, timeout: float) -> list[BoardReading]:
        if self.board is None:
            raise DeviceUnavailable(f"locker board {self._config.device_id} is not open")
        wait = self._next_poll - time.monotonic()
        if wait > 0:
            self._idle.wait(min(wait, timeout))
            return []
        self._next_poll = time.monotonic() + self._config.poll_interval_s
        asked_at = utcnow()
        status = self.board.status()  # DeviceTimeout / DeviceUnavailable go to the manager
        self.stats.accepted()
        return [BoardReading(status, asked_at)]

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None


class BoardsOnBus:
    """The store's locker boards as the door logic sees them (``doors.DoorDriver``): each call
    queues on the board's own bus worker, between the status polls."""

    def __init__(self, slots: Iterable[DeviceSlot]) -> None:
        self._slots = {s.device_id: s for s in slots if isinstance(s.config, LockerBoardConfig)}

    def status(self, board_device: str) -> BoardStatus:
        return self._board(board_device).status()

    def open(self, board_device: str, lock: int) -> UnlockResult:
        return self._board(board_device).open_lock(lock)

    def _board(self, board_device: str) -> LockerBoard:
        slot = self._slots.get(board_device)
        if slot is None:
            raise DeviceUnavailable(f"no locker board {board_device!r} in the devices file")
        board = getattr(slot.source, "board", None)
        if not slot.connected or not isinstance(board, LockerBoard):
            raise DeviceUnavailable(f"locker board {board_device} is offline ({slot.last_error})")
        return board
