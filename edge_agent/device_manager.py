"""Runs the store's devices: connect, read, reconnect with backoff, report health.

Devices are libraries (``devices.*``); this is the integration. One thread per device runs the
loop open → read → hand events to ``DeviceActions`` → on ``DeviceUnavailable`` close, wait
(jittered exponential backoff) and open again. A device going away is logged once when it
goes and once when it is back, not on every retry. Health (connected, last frame, error
counts) feeds the local API and the store's birth/status messages.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from devices.errors import DeviceError, DeviceUnavailable
from devices.stats import DeviceStats
from edge_agent.device_config import (
    CameraConfig,
    DeviceConfig,
    LockerBoardConfig,
    RfidLlrpConfig,
    RfidSerialConfig,
    ScannerConfig,
)
from storelink_contract.session import DeviceHealth

log = logging.getLogger(__name__)


class DeviceSource(Protocol):
    """What the manager needs of a device client."""

    @property
    def stats(self) -> DeviceStats: ...

    def open(self) -> None: ...

    def read(self, timeout: float) -> list[Any]: ...

    def close(self) -> None: ...


@dataclass
class DeviceSlot:
    """One configured device and what the manager knows about it."""

    config: DeviceConfig
    source: DeviceSource
    connected: bool = False
    connects: int = 0
    failures: int = 0
    last_error: str = ""
    last_change_at: datetime | None = None
    #: time.monotonic() of the last (re)connection, while connected.
    connected_since: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def device_id(self) -> str:
        return self.config.device_id

    def health(self) -> DeviceHealth:
        stats = self.source.stats
        return DeviceHealth(
            device_id=self.device_id,
            kind=self.config.kind,
            connected=self.connected,
            last_frame_at=stats.last_frame_at,
            errors=stats.rejected + self.failures,
        )


Handler = Callable[[DeviceSlot, list[Any]], None]


class DeviceManager:
    """Owns every device thread of one store."""

    def __init__(
        self,
        configs: list[DeviceConfig],
        handler: Handler,
        source_factory: Callable[[DeviceConfig], DeviceSource] | None = None,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        make = source_factory or build_source
        self.slots = [DeviceSlot(config, make(config)) for config in configs]
        self._handler = handler
        self._backoff = (backoff_min_s, backoff_max_s)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for slot in self.slots:
            thread = threading.Thread(
                target=self._run, args=(slot,), name=f"device-{slot.device_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads.clear()

    def health(self) -> tuple[DeviceHealth, ...]:
        return tuple(slot.health() for slot in self.slots)

    def listening_since(self, kinds: tuple[str, ...]) -> tuple[int, float | None]:
        """How many devices of ``kinds`` there are, and since when all of them have been
        connected (monotonic seconds; None when one is down or there are none)."""
        slots = [s for s in self.slots if s.config.kind in kinds]
        since = [s.connected_since for s in slots]
        if not slots or any(t is None for t in since):
            return len(slots), None
        return len(slots), max(t for t in since if t is not None)

    def slot(self, device_id: str) -> DeviceSlot | None:
        return next((s for s in self.slots if s.device_id == device_id), None)

    def _run(self, slot: DeviceSlot) -> None:
        low, high = self._backoff
        delay = low
        while not self._stopping.is_set():
            try:
                slot.source.open()
                while not self._stopping.is_set():
                    events = slot.source.read(0.2)
                    # Connected once the device has answered a read: a port can open with a
                    # dead board behind it, and that must back off, not flap.
                    if not slot.connected:
                        self._mark(slot, connected=True)
                        delay = low
                    if events:
                        self._dispatch(slot, events)
            except DeviceUnavailable as exc:
                self._mark(slot, connected=False, error=str(exc))
            except DeviceError as exc:  # a device that misbehaves: count it, reconnect
                slot.failures += 1
                self._mark(slot, connected=False, error=f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a client bug or a library error: the thread lives on
                slot.failures += 1
                log.exception("device %s: unexpected error", slot.device_id)
                self._mark(slot, connected=False, error=f"{type(exc).__name__}: {exc}")
            finally:
                try:
                    slot.source.close()
                except Exception:  # closing a broken device must not end its thread
                    log.debug("device %s: close failed", slot.device_id, exc_info=True)
            if self._stopping.wait(random.uniform(delay / 2, delay)):
                break
            delay = min(delay * 2, high)
        self._mark(slot, connected=False)

    def _dispatch(self, slot: DeviceSlot, events: list[Any]) -> None:
        try:
            self._handler(slot, events)
        except Exception:  # one bad event must not stop the device's loop
            slot.failures += 1
            log.exception("device %s: handling %d events failed", slot.device_id, len(events))

    def _mark(self, slot: DeviceSlot, *, connected: bool, error: str = "") -> None:
        if error:
            slot.last_error = error
        if connected == slot.connected:
            return
        slot.connected = connected
        slot.last_change_at = datetime.now(UTC)
        slot.connected_since = time.monotonic() if connected else None
        if connected:
            slot.connects += 1
            log.info("device %s (%s) connected", slot.device_id, slot.config.kind)
        elif not self._stopping.is_set():
            log.warning(
                "device %s (%s) unavailable: %s (retrying with backoff)",
                slot.device_id,
                slot.config.kind,
                slot.last_error,
            )


def build_source(config: DeviceConfig) -> DeviceSource:
    """The client for a configured device (imported here, so unused families cost nothing)."""
    match config:
        case ScannerConfig():
            from devices.scanner.client import ScannerClient

            return ScannerClient(
                config.url,
                prefix=config.prefix.encode(),
                suffix=config.suffix.encode(),
                baudrate=config.baudrate,
            )
        case CameraConfig():
            from devices.camera.client import CameraClient

            return CameraClient(config.source, debounce_s=config.debounce_s)
        case RfidSerialConfig():
            from devices.rfid.client import ChafonReader

            return ChafonReader(
                config.url,
                address=config.address,
                baudrate=config.baudrate,
                reader_id=config.device_id,
            )
        case LockerBoardConfig():
            from edge_agent.locker_source import LockerBoardSource

            return LockerBoardSource(config)
        case RfidLlrpConfig():
            from edge_agent.llrp_source import LlrpSource

            return LlrpSource(config)
    raise ValueError(f"unknown device kind {config!r}")  # pragma: no cover - union exhausted
