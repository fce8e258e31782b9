"""What device events mean for the store: the thin adapter from devices to the domain core.

- a barcode (scanner or camera) at **receiving** adds one unit of that GTIN to on-hand (the
  same code again within the scanner's ``repeat_window_s`` is a double trigger, not a second
  unit); an unknown GTIN is refused with the reason kept on the device for staff to see;
- a barcode at a **kiosk** looks the product up (here and in other stores); the answer waits
  on the device for the kiosk screen;
- a barcode at a **pack station** (``picking``) picks one unit of the order bound to it;
- a QR at a **locker bank** (its camera or scanner) is a pickup QR: the right door opens;
- RFID reads feed item presence (``RfidPresence``); counts are asked for through the API;
- a locker board's status goes to the locker logic (doors closing confirm loads and pickups).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections import Counter
from typing import Any

from edge_agent import catalog, credentials, locker_watch, picking
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
from edge_agent.movements import (
    CountRequest,
    MovementResult,
    ReceiptRequest,
    find_movement,
    receive_stock,
)
from edge_agent.movements import record_count as record_count_in_ledger
from edge_agent.pickup import LockerDesk
from edge_agent.policy import FulfilmentPolicy
from edge_agent.rfid_presence import Read, RfidPresence
from edge_agent.stock import lookup
from storelink_contract.common import utcnow

log = logging.getLogger(__name__)

#: A count uses items heard in the last this-many seconds, from readers connected that long.
COUNT_WINDOW_S = 10.0
#: The QR that just opened a door, seen again within this long, is the same pickup.
PICKUP_REPEAT_S = 30.0


class CountNotPossible(StoreError):
    """The RFID readers cannot give a complete picture right now."""


class UnknownZone(StoreError):
    """A zone no antenna covers."""


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

    def __init__(self, db: StoreDB, policy: FulfilmentPolicy, configs: list[DeviceConfig]) -> None:
        self._db = db
        self._policy = policy
        self._store_id = policy.store_id
        #: Set by the agent once the devices exist (the desk opens doors through them).
        self.desk: LockerDesk | None = None
        self.presence = RfidPresence(zones_of(configs))
        self._presence_lock = threading.Lock()
        self._last_code: dict[str, tuple[str, float]] = {}
        self._last_pickup: dict[str, tuple[str, float]] = {}
        #: Numbers each locker-camera answer, so a screen shows each one once. Starting from
        #: the wall clock (ms), a restarted agent does not reuse the numbers a screen that
        #: stayed open has already seen.
        self._pickup_seq = itertools.count(time.time_ns() // 1_000_000)

    def __call__(self, slot: DeviceSlot, events: list[Any]) -> None:
        config = slot.config
        if isinstance(config, ScannerConfig | CameraConfig):
            for event in events:
                try:
                    self._barcode(slot, config, event)
                except Exception:  # one bad scan must not lose the others in the batch
                    slot.failures += 1
                    log.exception("device %s: handling a scan failed", config.device_id)
        elif isinstance(config, RfidSerialConfig | RfidLlrpConfig):
            reads = [Read(e.epc_hex, e.antenna, config.device_id) for e in events]
            with self._presence_lock:
                self.presence.observe(reads, time.monotonic())
        elif isinstance(config, LockerBoardConfig):
            for reading in events:
                slot.extra["status"] = reading.status
                locker_watch.on_board_status(
                    self._db, self._policy, config.device_id, reading.status, reading.at
                )

    def sweep(self) -> None:
        """Mark items not heard for a while as departed (a scheduled job)."""
        with self._presence_lock:
            self.presence.sweep(time.monotonic())

    def present_by_sku(
        self, zones: list[str] | None, heard_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Items present per sku in ``zones``, and per GTIN the catalog does not know."""
        unknown_zones = set(zones or ()) - self.presence.zones()
        if unknown_zones:
            raise UnknownZone(
                f"no RFID antenna covers {', '.join(sorted(unknown_zones))}; zones: "
                + ", ".join(sorted(self.presence.zones()))
            )
        with self._presence_lock:
            by_gtin = self.presence.count_by_gtin(zones, heard_since=heard_since)
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
        self, count_id: str, skus: list[str] | None, readers: tuple[int, float | None]
    ) -> MovementResult:
        """An RFID cycle count of the whole store: what is heard now becomes ``count`` deltas.

        A count replaces on-hand, so it must see everything on-hand counts: every zone (a
        one-zone count against store-wide stock would write the other zones off), from
        readers that have been listening the whole freshness window (``readers`` is how many
        there are and when the last of them connected, None when one is down, as
        ``DeviceManager.listening_since`` gives it), and only items heard within
        that window (a unit sold a minute ago is not on the shelf). ``skus`` is the scope: a
        sku in scope with no tag heard counts as zero. Without a scope, the skus heard.
        A retry with the same ``count_id`` returns the first answer.
        """
        with self._db.write() as conn:
            earlier = find_movement(conn, "count", count_id)
        if earlier is not None:
            return earlier
        now = time.monotonic()
        count_of_readers, listening_since = readers
        if count_of_readers == 0:
            raise CountNotPossible("this store has no RFID reader")
        if listening_since is None:
            raise CountNotPossible(
                "an RFID reader is not connected: counting now would write off what it cannot hear"
            )
        if now - listening_since < COUNT_WINDOW_S:
            raise CountNotPossible(
                f"the RFID readers have listened for {now - listening_since:.0f} s; a count "
                f"needs {COUNT_WINDOW_S:.0f} s of reads, try again shortly"
            )
        present, _unknown = self.present_by_sku(None, heard_since=now - COUNT_WINDOW_S)
        scope = skus if skus is not None else sorted(present)
        counted = {sku: present.get(sku, 0) for sku in scope}
        request = CountRequest(
            count_id=count_id, counted=counted, note="RFID count, all zones", method="rfid"
        )
        with self._db.write() as conn:
            return record_count_in_ledger(conn, request, utcnow())

    def _barcode(self, slot: DeviceSlot, config: ScannerConfig | CameraConfig, event: Any) -> None:
        if config.role == "locker_bank":
            # A pickup QR is a secret: it is checked, never kept on the device's view.
            if self.desk is not None:
                self._pickup_qr(slot, config.device_id, str(event.data))
            return
        if str(event.data).startswith(f"{credentials.QR_PREFIX}:"):
            # A pickup QR shown to the wrong device: a secret, so not kept or shown anywhere.
            slot.extra["last_refusal"] = "a pickup QR code: show it at the locker"
            return
        code: str = event.gtin or event.data
        slot.extra["last_scan"] = code
        # A camera's debounce also holds across a reconnect (its own debouncer restarts).
        window = config.repeat_window_s if isinstance(config, ScannerConfig) else config.debounce_s
        # Keyed on the whole read: two serialised items (GS1 AI 21) of one GTIN are two.
        counts_units = config.role in ("receiving", "picking")
        if counts_units and self._repeated(config.device_id, str(event.data), window):
            return
        if config.role == "receiving":
            if event.gtin is None:
                slot.extra["last_refusal"] = f"{code!r} is not a GTIN: nothing received"
                return
            device_tag = hashlib.sha256(config.device_id.encode()).hexdigest()[:8]
            receipt = ReceiptRequest(
                receipt_id=f"scan-{device_tag}-{uuid.uuid4().hex}",
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
        elif config.role == "picking":
            try:
                with self._db.write() as conn:
                    outcome = picking.pick_at_station(conn, config.device_id, code, utcnow())
            except StoreError as exc:
                slot.extra["last_pick"] = str(exc)
                return
            slot.extra["last_pick"] = (
                outcome.message if outcome else f"{code}: no order is being picked here"
            )

    def _pickup_qr(self, slot: DeviceSlot, device_id: str, text: str) -> None:
        """A QR shown at a locker: the answer waits on the device for the locker screen.

        A customer holds the phone up for a few seconds, longer than the camera's debounce:
        the same QR again soon after it opened a door is that same pickup, not a second try of
        a used code (which would count against the terminal)."""
        assert self.desk is not None
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        now = time.monotonic()
        last = self._last_pickup.get(device_id)
        if last is not None and last[0] == fingerprint and now - last[1] < PICKUP_REPEAT_S:
            return
        try:
            result = self.desk.show_qr(device_id, text)
        except StoreError as exc:
            self._record_pickup(slot, {"opened": False, "message": str(exc)})
            log.info("locker QR at %s refused: %s", device_id, exc)
            return
        self._last_pickup[device_id] = (fingerprint, now)
        self._record_pickup(slot, {"opened": True, **result.model_dump()})

    def _record_pickup(self, slot: DeviceSlot, answer: dict[str, Any]) -> None:
        """Keep a camera's answer for the locker screen, numbered (``seq``, rising) and timed
        (``recorded_at``, ``time.monotonic()``): the screen shows each answer once, and only
        while it is recent, never a previous customer's "take your order"."""
        slot.extra["last_pickup"] = {
            **answer,
            "seq": next(self._pickup_seq),
            "recorded_at": time.monotonic(),
        }

    def _repeated(self, device_id: str, code: str, window_s: float) -> bool:
        """A double trigger: the same read within ``window_s`` of the last one counted. The
        window does not slide with suppressed reads, so items scanned steadily all count."""
        now = time.monotonic()
        last = self._last_code.get(device_id)
        if last is not None and last[0] == code and now - last[1] < window_s:
            return True
        self._last_code[device_id] = (code, now)
        return False
