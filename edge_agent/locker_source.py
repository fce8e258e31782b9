"""A locker board as a device-manager source: polls its status, and lends the board for opening.

The board client (``devices.locker``) owns the RS485 bus with its own worker thread; this
adapter creates it on ``open``, asks for the status every ``poll_interval_s`` (the status is
what the locker logic and the health report need), and closes it on ``close``. Door-open
commands go through ``board`` so they queue on the same bus.
"""

from __future__ import annotations

import threading
import time

from devices.errors import DeviceUnavailable
from devices.locker.client import LockerBoard
from devices.locker.protocol import BoardStatus, Polarity, Sensors
from devices.stats import DeviceStats
from edge_agent.device_config import LockerBoardConfig


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

    def read(self, timeout: float) -> list[BoardStatus]:
        if self.board is None:
            raise DeviceUnavailable(f"locker board {self._config.device_id} is not open")
        wait = self._next_poll - time.monotonic()
        if wait > 0:
            self._idle.wait(min(wait, timeout))
            return []
        self._next_poll = time.monotonic() + self._config.poll_interval_s
        status = self.board.status()  # DeviceTimeout / DeviceUnavailable go to the manager
        self.stats.accepted()
        return [status]

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None
