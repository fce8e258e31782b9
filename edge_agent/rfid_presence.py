"""RFID at the edge: raw tag reads in, item presence and its changes out.

A fixed reader reports every tag several times a second on every antenna that hears it. This
module turns that stream into what a store cares about: which items are where. Raw reads never
leave the store; counts built from presence do (as ledger adjustments).

Per read: drop it if the same tag was processed in the same zone within ``dedupe_s`` (most
reads are this), decode its EPC once (SGTIN-96 → GTIN; cached per tag), map (reader, antenna)
to a zone, and update the item's presence: **arrived** (first seen), **moved** (seen in another
zone), and, from ``sweep``, **departed** (not seen for ``depart_after_s``). Plain dicts and no
I/O: it runs at well over 100,000 reads/s on one core (``bench/rfid_pipeline.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from devices.errors import FrameError
from devices.rfid.epc import Sgtin96, decode_epc

TransitionKind = Literal["arrived", "moved", "departed"]
_DECODE_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Transition:
    kind: TransitionKind
    epc: str
    gtin: str | None
    zone: str
    previous_zone: str | None = None


@dataclass(slots=True)
class _Item:
    gtin: str | None
    zone: str
    last_seen: float


@dataclass(frozen=True, slots=True)
class Read:
    """The fields of a tag read the pipeline needs (``devices.rfid`` TagReads fit)."""

    epc_hex: str
    antenna: int
    reader_id: str


class RfidPresence:
    """Presence state of every tagged item the store's antennas can hear."""

    def __init__(
        self,
        zones: Mapping[tuple[str, int], str],
        *,
        dedupe_s: float = 1.0,
        depart_after_s: float = 60.0,
    ) -> None:
        self._zones = dict(zones)
        self._dedupe_s = dedupe_s
        self._depart_after_s = depart_after_s
        self._items: dict[str, _Item] = {}
        self._gtins: dict[str, str | None] = {}
        self.reads = 0
        self.duplicates = 0
        self.unmapped = 0
        self.undecodable = 0

    def observe(self, reads: Iterable[Read], now: float) -> list[Transition]:
        """Process raw reads seen at ``now`` (monotonic seconds); return the changes."""
        changes: list[Transition] = []
        items = self._items
        for read in reads:
            self.reads += 1
            epc = read.epc_hex
            zone = self._zones.get((read.reader_id, read.antenna))
            if zone is None:
                self.unmapped += 1
                continue
            item = items.get(epc)
            if item is not None:
                if item.zone == zone and now - item.last_seen < self._dedupe_s:
                    self.duplicates += 1
                    continue
                item.last_seen = now
                if item.zone != zone:
                    changes.append(Transition("moved", epc, item.gtin, zone, item.zone))
                    item.zone = zone
                continue
            gtin = self._gtin(epc)
            items[epc] = _Item(gtin, zone, now)
            changes.append(Transition("arrived", epc, gtin, zone))
        return changes

    def sweep(self, now: float) -> list[Transition]:
        """Items not heard for ``depart_after_s`` have left (sold, moved out of range)."""
        gone = [
            epc for epc, item in self._items.items() if now - item.last_seen >= self._depart_after_s
        ]
        changes = []
        for epc in gone:
            item = self._items.pop(epc)
            changes.append(Transition("departed", epc, item.gtin, item.zone))
        return changes

    def count_by_gtin(
        self,
        zones: Iterable[str] | None = None,
        *,
        heard_since: float | None = None,
    ) -> Counter[str]:
        """Items present per GTIN, in ``zones`` (all zones when None), heard at or after
        ``heard_since`` when given (a count must not include an item sold a minute ago that
        has not been swept out yet). Non-SGTIN tags are not products and are left out."""
        wanted = None if zones is None else set(zones)
        return Counter(
            item.gtin
            for item in self._items.values()
            if item.gtin is not None
            and (wanted is None or item.zone in wanted)
            and (heard_since is None or item.last_seen >= heard_since)
        )

    def zones(self) -> set[str]:
        return set(self._zones.values())

    def _gtin(self, epc: str) -> str | None:
        if epc in self._gtins:
            return self._gtins[epc]
        if len(self._gtins) >= _DECODE_CACHE_LIMIT:
            self._gtins.clear()  # a cache, not a record: decoding again is cheap
        try:
            decoded = decode_epc(epc)
        except FrameError:
            self.undecodable += 1
            decoded = None
        gtin = decoded.gtin if isinstance(decoded, Sgtin96) else None
        self._gtins[epc] = gtin
        return gtin
