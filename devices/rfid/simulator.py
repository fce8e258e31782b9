"""A Chafon-family UHF reader on a pty, with the faults real readers and cables have.

    python -m devices.rfid.simulator --tags 40 [--split 0.2 --corrupt 0.05 ...]

prints the path a driver opens like ``/dev/ttyUSB0`` (a symlink to the current pty, the way
udev's ``/dev/serial/by-id`` links work, so it survives ``unplug()``/``replug()``). It answers
inventory commands with the tags currently in its field, through ``FaultyWire`` so the
``Faults`` knobs apply to every reply frame, and shares ``chafon.py`` with the client.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from devices.rfid.chafon import (
    BROADCAST_ADDRESS,
    CMD_INVENTORY,
    ChafonFrame,
    ChafonFramer,
    InventoryLayout,
    InventoryTag,
    encode_inventory_replies,
)
from devices.rfid.epc import encode_sgtin96
from devices.simkit import (
    Faults,
    FaultyWire,
    PtyPair,
    add_fault_options,
    faults_from,
    read_available,
    stop_requested,
)

log = logging.getLogger(__name__)


class ChafonSimulator:
    """A simulated reader; ``start()`` it, point a driver at ``path``, ``stop()`` it."""

    def __init__(
        self,
        tags: Iterable[bytes] = (),
        faults: Faults | None = None,
        *,
        address: int = 0x00,
        layout: InventoryLayout = InventoryLayout.BASIC,
        antenna: int = 1,
    ) -> None:
        self.faults = faults or Faults()
        self.address = address
        self.layout = layout
        self.antenna = antenna
        self.commands_seen = 0
        self.replies_sent = 0
        self._field: dict[bytes, int] = {bytes(epc): 50 for epc in tags}
        self._lock = threading.Lock()  # guards the pty and the field
        self._pty: PtyPair | None = None
        self._wire: FaultyWire | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="chafon-sim-"))
        self.path = str(self._dir / "ttyUHF0")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the field ------------------------------------------------------------------------

    @property
    def tags(self) -> list[bytes]:
        with self._lock:
            return list(self._field)

    def add_tag(self, epc: bytes, rssi: int = 50) -> None:
        """Put a tag in the field; ``rssi`` is the RSSI byte that 288-style readers send."""
        if not 0 <= rssi <= 0xFF or not 0 < len(epc) <= 62:
            raise ValueError("RSSI is one unsigned byte; an EPC has 1..62 bytes")
        with self._lock:
            self._field[bytes(epc)] = rssi

    def remove_tag(self, epc: bytes) -> None:
        with self._lock:
            self._field.pop(bytes(epc), None)

    def set_tags(self, tags: Iterable[bytes]) -> None:
        with self._lock:
            self._field = {bytes(epc): 50 for epc in tags}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ChafonSimulator:
        self.replug()
        self._thread = threading.Thread(target=self._serve, name="chafon-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ChafonSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """The reader drops off the bus: the driver's port fails until ``replug()``."""
        with self._lock:
            if self._pty is not None:
                self._pty.close()
            self._pty = None
            self._wire = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def replug(self) -> None:
        """The reader comes back on a fresh pty; ``path`` points at it again."""
        with self._lock:
            if self._pty is not None:
                return
            self._pty = PtyPair()
            self._wire = FaultyWire(self._pty.device_fd, self.faults)
            link = f"{self.path}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(self._pty.path, link)
            os.replace(link, self.path)

    # -- the reader -----------------------------------------------------------------------

    def _serve(self) -> None:
        framer = ChafonFramer()
        while not self._stop.is_set():
            with self._lock:
                fd = self._pty.device_fd if self._pty is not None else None
                data = read_available(fd, 0.02) if fd is not None else b""
            if fd is None:
                framer.clear()
                time.sleep(0.02)
                continue
            for item in framer.feed(data):
                if isinstance(item, ChafonFrame):
                    self._answer(item)
                else:
                    # A real reader ignores a command with a bad CRC; so does this one.
                    log.debug("simulator ignored %s", item)

    def _answer(self, command: ChafonFrame) -> None:
        if command.address not in (self.address, BROADCAST_ADDRESS):
            return  # another reader's command on a shared RS485 bus
        self.commands_seen += 1
        if command.command != CMD_INVENTORY:
            return  # only inventory is simulated; real readers answer 0xFE "illegal command"
        f = self.faults
        if f.chance(f.drop_reply):
            return
        with self._lock:
            tags = [InventoryTag(epc, rssi) for epc, rssi in self._field.items()]
        frames = encode_inventory_replies(self.address, tags, self.layout, antenna=self.antenna)
        if f.reply_delay_s:
            self._stop.wait(f.reply_delay_s)
        for frame in frames:
            with self._lock:
                wire = self._wire
                if wire is None:
                    return  # unplugged while "scanning"
                try:
                    wire.send(frame)
                except OSError:
                    return
        self.replies_sent += 1


def demo_tags(count: int, seed: int = 7) -> list[bytes]:
    """``count`` SGTIN-96 EPCs over a few products, the way a shelf of stock looks."""
    rng = random.Random(seed)
    products = [("0614141", f"{rng.randrange(10**6):06d}") for _ in range(max(1, count // 8))]
    return [
        encode_sgtin96(*products[i % len(products)], serial=rng.randrange(1, 1 << 38))
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10, help="SGTIN-96 tags in the field")
    parser.add_argument("--address", type=lambda v: int(v, 0), default=0)
    parser.add_argument(
        "--layout",
        choices=[lay.value for lay in InventoryLayout],
        default=InventoryLayout.BASIC.value,
    )
    add_fault_options(parser, commands=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    faults = faults_from(args)
    sim = ChafonSimulator(
        demo_tags(args.tags), faults, address=args.address, layout=InventoryLayout(args.layout)
    )
    stop = stop_requested()
    with sim:
        print(sim.path, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
