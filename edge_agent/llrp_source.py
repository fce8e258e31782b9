"""An LLRP reader as a device-manager source: sllurp's thread reports, the manager reads.

sllurp calls back from its own thread; the callback only queues the reads, and ``read``
hands them to the manager's loop (callbacks never call into the store database). A dropped
connection surfaces as ``DeviceUnavailable`` from ``read``, so the manager reconnects with
its backoff.
"""

from __future__ import annotations

import queue

from devices.errors import DeviceUnavailable
from devices.rfid.llrp import LlrpReader
from devices.rfid.reads import TagRead
from devices.stats import DeviceStats
from edge_agent.device_config import RfidLlrpConfig


class LlrpSource:
    def __init__(self, config: RfidLlrpConfig) -> None:
        self._config = config
        self._reads: queue.Queue[list[TagRead]] = queue.Queue(maxsize=10_000)
        self._reader = LlrpReader(
            config.host,
            config.port,
            antennas=sorted(config.antennas),
            on_tags=self._queue,
            reader_id=config.device_id,
        )

    @property
    def stats(self) -> DeviceStats:
        return self._reader.stats

    def open(self) -> None:
        self._reader.start()

    def read(self, timeout: float) -> list[TagRead]:
        if not self._reader.connected:
            raise DeviceUnavailable(f"{self._config.device_id}: connection lost")
        try:
            batch = self._reads.get(timeout=timeout)
        except queue.Empty:
            return []
        while not self._reads.empty():
            batch.extend(self._reads.get_nowait())
        return batch

    def close(self) -> None:
        self._reader.stop()

    def _queue(self, reads: list[TagRead]) -> None:
        try:
            self._reads.put_nowait(list(reads))
        except queue.Full:  # the manager is stuck; dropping raw reads only loses duplicates
            self.stats.reject("read queue full: reads dropped")
