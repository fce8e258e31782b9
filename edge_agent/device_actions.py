"""What device events mean for the store: the thin adapter from devices to the domain core.

- a barcode (scanner or camera) at **receiving** adds one unit of that GTIN to on-hand (the
  same code again within the scanner's ``repeat_window_s`` is a double trigger, not a second
  unit); an unknown GTIN is refused with the reason kept on the device for staff to see;
- a barcode at a **kiosk** looks the product up (here and in other stores); the answer waits
  on the device for the kiosk screen;
- RFID reads feed item presence (``RfidPresence``); counts are asked for through the API;
- a locker board's status is kept for the locker logic.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from typing import Any

from edge_agent import catalog
from edge_agent.db import StoreDB
from edge_agent.device_config import (
    CameraConfig,
    DeviceConfig,
    LockerBoardConfig,
    RfidLlrpConfig,
    RfidSerialConfig,
    ScannerConfig,
)
from edge_agent.device_manager import DeviceSlot
from edge_agent.errors import StoreError
from edge_agent.movements import CountRequest, MovementResult, ReceiptRequest, receive_stock
from edge_agent.movements import record_count as record_count_in_ledger
from edge_agent.rfid_presence import Read, RfidPresence
from edge_agent.stock import lookup
from storelink_contract.common import utcnow

log = logging.getLogger(__name__)


def zones_of(configs: list[DeviceConfig]) -> dict[tuple[str, int], str]:
    """(reader device id, antenna) → zone, from the RFID readers' configuration."""
    return {
        (c.device_id, antenna): zone
        for c in configs
        if isinstance(c, RfidSerialConfig | RfidLlrpConfig)
        for antenna, zone in c.antennas.items()
    }


class DeviceActions:
    """Called by the device manager with each device's events."""

    def __init__(self, db: StoreDB, store_id: str, configs: list[DeviceConfig]) -> None:
        self._db = db
        self._store_id = store_id
        self.presence = RfidPresence(zones_of(configs))
        self._presence_lock = threading.Lock()
        self._last_code: dict[str, tuple[str, float]] = {}

    def __call__(self, slot: DeviceSlot, events: list[Any]) -> None:
        config = slot.config
        if isinstance(config, ScannerConfig | CameraConfig):
            for event in events:
                self._barcode(slot, config, event)
        elif isinstance(config, RfidSerialConfig | RfidLlrpConfig):
            reads = [Read(e.epc_hex, e.antenna, config.device_id) for e in events]
            with self._presence_lock:
                self.presence.observe(reads, time.monotonic())
        elif isinstance(config, LockerBoardConfig):
            slot.extra["status"] = events[-1]

    def sweep(self) -> None:
        """Mark items not heard for a while as departed (a scheduled job)."""
        with self._presence_lock:
            self.presence.sweep(time.monotonic())

    def present_by_sku(self, zones: list[str] | None) -> tuple[dict[str, int], dict[str, int]]:
        """Items present per sku in ``zones``, and per GTIN the catalog does not know."""
        with self._presence_lock:
            by_gtin = self.presence.count_by_gtin(zones)
        conn = self._db.read()
        by_sku: Counter[str] = Counter()
        unknown: dict[str, int] = {}
        for gtin, count in by_gtin.items():
            product = catalog.find(conn, gtin)
            if product is None:
                unknown[gtin] = count
            else:
                by_sku[product.sku] += count
        return dict(by_sku), unknown

    def record_count(
        self, count_id: str, zones: list[str] | None, skus: list[str] | None
    ) -> MovementResult:
        """An RFID cycle count: what is present now becomes ``count`` deltas in the ledger.

        ``skus`` is the scope: a sku in scope with no tag heard counts as zero (missing items).
        Without a scope, the skus heard are counted.
        """
        present, _unknown = self.present_by_sku(zones)
        scope = skus if skus is not None else sorted(present)
        counted = {sku: present.get(sku, 0) for sku in scope}
        where = ", ".join(zones) if zones else "all zones"
        request = CountRequest(count_id=count_id, counted=counted, note=f"RFID count: {where}")
        with self._db.write() as conn:
            return record_count_in_ledger(conn, request, utcnow())

    def _barcode(self, slot: DeviceSlot, config: ScannerConfig | CameraConfig, event: Any) -> None:
        code: str = event.gtin or event.data
        slot.extra["last_scan"] = code
        if config.role == "receiving":
            # A camera's debounce also holds across a reconnect (its own debouncer restarts).
            window = (
                config.repeat_window_s if isinstance(config, ScannerConfig) else config.debounce_s
            )
            if self._repeated(config.device_id, code, window):
                return
            if event.gtin is None:
                slot.extra["last_refusal"] = f"{code!r} is not a GTIN: nothing received"
                return
            receipt = ReceiptRequest(
                receipt_id=f"scan-{config.device_id}-{uuid.uuid4().hex[:16]}",
                lines=[{"gtin": event.gtin, "quantity": 1}],
            )
            try:
                with self._db.write() as conn:
                    receive_stock(conn, receipt, utcnow())
            except StoreError as exc:
                slot.extra["last_refusal"] = str(exc)
                log.warning("receiving scan at %s refused: %s", config.device_id, exc)
        elif config.role == "kiosk":
            found = lookup(self._db.read(), self._store_id, code, utcnow())
            slot.extra["last_lookup"] = found if found is not None else {"code": code}

    def _repeated(self, device_id: str, code: str, window_s: float) -> bool:
        now = time.monotonic()
        last = self._last_code.get(device_id)
        self._last_code[device_id] = (code, now)
        return last is not None and last[0] == code and now - last[1] < window_s
