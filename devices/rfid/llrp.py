"""Fixed UHF readers (Impinj, Zebra FX...) over LLRP, through sllurp 3.x.

    reader = LlrpReader("10.0.0.40", antennas=(1, 2), on_tags=handle)   # handle(list[TagRead])
    reader.start()      # connects; sllurp configures the reader and starts inventory
    ...
    reader.stop()

sllurp runs its own (non-daemon) thread per reader and calls back from it with tag report
dicts: ``EPC`` as hex *bytes* (``b'3074257bf7194e4000001a85'``), ``AntennaID``, ``PeakRSSI``
(dBm), ``LastSeenTimestampUTC`` (microseconds since the epoch). ``tag_reads_from_report``
turns those into ``TagRead``s and is kept pure so it can be tested on its own. ``on_tags``
runs on sllurp's thread: hand the reads to a queue, do not block in it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sllurp.llrp import LLRPReaderClient, LLRPReaderConfig
from sllurp.llrp_errors import LLRPError, ReaderConfigurationError

from devices.errors import DeviceUnavailable
from devices.rfid.reads import TagRead
from devices.stats import DeviceStats

log = logging.getLogger(__name__)

LLRP_PORT = 5084

TagCallback = Callable[[list[TagRead]], None]


def tag_reads_from_report(
    report: Iterable[Mapping[str, Any]], reader_id: str, *, received_at: datetime | None = None
) -> list[TagRead]:
    """``TagRead``s from one sllurp tag report (the ``TagReportData`` list).

    Entries without an EPC (an access-spec result on its own) are skipped. The time is the
    reader's ``LastSeenTimestampUTC`` (else ``FirstSeenTimestampUTC``, else ``received_at``,
    else now). RSSI is ``PeakRSSI``, or Impinj's centi-dBm ``ImpinjPeakRSSI`` rounded to dBm.
    """
    fallback = received_at or datetime.now(UTC)
    reads: list[TagRead] = []
    for entry in report:
        epc = entry.get("EPC", entry.get("EPC-96"))
        if isinstance(epc, bytes | bytearray):
            epc_hex = bytes(epc).decode("ascii", "replace")
        elif isinstance(epc, str):
            epc_hex = epc
        else:
            continue
        stamp = entry.get("LastSeenTimestampUTC", entry.get("FirstSeenTimestampUTC"))
        if isinstance(stamp, int) and stamp > 0:
            seen_at = datetime.fromtimestamp(stamp / 1_000_000, UTC)
        else:
            seen_at = fallback
        rssi: int | None = None
        if isinstance(entry.get("PeakRSSI"), int):
            rssi = entry["PeakRSSI"]
        elif isinstance(entry.get("ImpinjPeakRSSI"), int):
            rssi = round(entry["ImpinjPeakRSSI"] / 100)
        antenna = entry.get("AntennaID")
        reads.append(
            TagRead(
                epc_hex=epc_hex.upper(),
                antenna=antenna if isinstance(antenna, int) else 0,
                rssi=rssi,
                reader_id=reader_id,
                seen_at=seen_at,
            )
        )
    return reads


class _ReaderClient(LLRPReaderClient):  # type: ignore[misc]  # sllurp is untyped
    """sllurp's client, except that a failed connect closes its socket.

    sllurp 3.0.5 drops the socket of a failed ``connect`` without closing it, which leaks a
    file descriptor (and a ResourceWarning) on every retry against a reader that is down.
    """

    def _connect_socket(self) -> bool:
        if self._socket:  # type: ignore[has-type]
            raise ReaderConfigurationError("Already connected")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._socktimeout)
            sock.connect((self._host, self._port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        return True


class LlrpReader:
    """One LLRP reader that inventories continuously and reports tags as it sees them."""

    def __init__(
        self,
        host: str,
        port: int = LLRP_PORT,
        *,
        antennas: Sequence[int] = (1,),
        on_tags: TagCallback,
        reader_id: str | None = None,
        tx_power: int = 0,
        report_every_n_tags: int = 1,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.antennas = list(antennas)
        self.reader_id = reader_id or f"llrp:{host}:{port}"
        self.stats = DeviceStats()
        self._on_tags = on_tags
        self._tx_power = tx_power  # index into the reader's power table; 0 = maximum
        self._report_every_n_tags = report_every_n_tags
        self._connect_timeout_s = connect_timeout_s
        self._client: Any = None  # sllurp's LLRPReaderClient (untyped)
        self._connected = False

    @property
    def connected(self) -> bool:
        """True between a successful ``start()`` and the connection's end (or ``stop()``).

        Also False when sllurp's thread has died without its disconnect callback (an
        exception other than LLRPError ends its loop silently), so the reader is reconnected
        instead of going quiet for good.
        """
        client = self._client
        return self._connected and client is not None and bool(client.is_alive())

    def start(self) -> None:
        """Connect and start inventory; ``DeviceUnavailable`` if the reader cannot be reached."""
        if self._client is not None:
            return
        config = LLRPReaderConfig(
            {
                "antennas": self.antennas,
                "tx_power": self._tx_power,
                "report_every_n_tags": self._report_every_n_tags,
                "start_inventory": True,
                "reconnect": False,  # the device manager owns reconnecting, with backoff
                "tag_content_selector": {
                    "EnableROSpecID": False,
                    "EnableSpecIndex": False,
                    "EnableInventoryParameterSpecID": False,
                    "EnableAntennaID": True,
                    "EnableChannelIndex": False,
                    "EnablePeakRSSI": True,
                    "EnableFirstSeenTimestamp": False,
                    "EnableLastSeenTimestamp": True,
                    "EnableTagSeenCount": True,
                    "EnableAccessSpecID": False,
                },
            }
        )
        client = _ReaderClient(self.host, self.port, config, timeout=self._connect_timeout_s)
        client.add_tag_report_callback(self._on_report)
        client.add_disconnected_callback(self._on_disconnected)
        # Connected before sllurp's thread starts: the reader may hang up at once, and its
        # disconnect callback must have the last word.
        self._connected = True
        try:
            client.connect()
        except (OSError, LLRPError) as exc:
            self._connected = False
            raise DeviceUnavailable(f"{self.reader_id}: cannot connect: {exc}") from exc
        self._client = client
        log.info("%s: connected", self.reader_id)

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the reader to stop politely, then close the connection and end sllurp's thread."""
        client, self._client = self._client, None
        self._connected = False
        if client is None:
            return
        if client.is_alive():
            try:
                client.disconnect(timeout=timeout / 2)
            except (OSError, LLRPError):
                log.debug("%s: polite stop failed", self.reader_id, exc_info=True)
        client.hard_disconnect()  # a no-op after a polite stop; closes the socket otherwise
        client.join(timeout / 2)
        log.info("%s: stopped", self.reader_id)

    def __enter__(self) -> LlrpReader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sllurp's thread ------------------------------------------------------------------

    def _on_report(self, _client: object, report: list[dict[str, Any]]) -> None:
        reads = tag_reads_from_report(report, self.reader_id)
        if not reads:
            return
        self.stats.accepted(len(reads))
        self._on_tags(reads)

    def _on_disconnected(self, _client: object) -> None:
        if self._connected:
            log.warning("%s: connection lost", self.reader_id)
        self._connected = False
