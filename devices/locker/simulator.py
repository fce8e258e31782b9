"""A simulated Kerong KR-CU16 lock board on a pty, with the faults real boards show.

    python -m devices.locker.simulator --board 0 --drop-reply 0.2

prints the path to open (``LockerBoard(path)``). The path is a symlink to the pty, like
``/dev/serial/by-id/...``: ``unplug()`` closes the pty and removes the link (the driver sees the
port vanish), ``replug()`` brings a fresh pty back under the same path.

The board keeps its locks and doors: an unlock releases the hook and the door springs open; the
hook re-engages when the door is pushed shut (``close_door``). Item sensors follow
``put_item``/``remove_item``; with ``sensors=Sensors.DOOR`` the sensor inputs report the doors.
``unlock_count(lock)`` says how many times a lock was really pulsed, so tests can assert that a
door opened exactly once. Fault knobs (``Faults``) apply to every reply; ``drop_reply`` on an
unlock still performs it, which is the field failure that makes blind retries dangerous.
``answers_unlock = False`` makes every unlock silent, ``browns_out_on_unlock`` a board that
pulses and then goes silent, ``jam(lock)`` a lock that will not release, ``responsive = False``
a board that neither acts nor answers (powered off on the bus).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from devices.locker.protocol import (
    CMD_STATUS,
    CMD_UNLOCK,
    LOCKS_PER_BOARD,
    Framer,
    Polarity,
    Rejected,
    Sensors,
    address,
    encode_reply,
)
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


class LockerBoardSimulator:
    """One board at address ``board`` with ``locks`` locks wired (the rest read as latched)."""

    def __init__(
        self,
        board: int = 0,
        locks: int = LOCKS_PER_BOARD,
        faults: Faults | None = None,
        polarity: Polarity | None = None,
        sensors: Sensors = Sensors.ITEM,
    ) -> None:
        address(board)
        if not 1 <= locks <= LOCKS_PER_BOARD:
            raise ValueError(f"a board has 1-{LOCKS_PER_BOARD} locks")
        self.board = board
        self.locks = locks
        self.faults = faults or Faults()
        self.polarity = polarity or Polarity()
        self.sensors = sensors
        #: False: the board ignores the bus entirely (no action, no reply).
        self.responsive = True
        #: False: the board pulses the lock on an unlock but never answers it (a field failure).
        self.answers_unlock = True
        #: True: the solenoid's current draw browns the board out: it pulses the lock, then
        #: answers nothing (status included) until ``responsive`` is set again.
        self.browns_out_on_unlock = False
        self.requests_seen = 0
        self.rejected: list[Rejected] = []
        self._state = threading.Lock()
        self._open: set[int] = set()  # hook released = door open
        self._items: set[int] = set()
        self._jammed: set[int] = set()
        self._unlocks = [0] * LOCKS_PER_BOARD
        self._dir = Path(tempfile.mkdtemp(prefix="locker-sim-"))
        self.path = str(self._dir / f"ttyLOCKER{board}")
        self._pty: PtyPair | None = None
        self._want_plugged = True
        self._cable = threading.Condition()
        self._requested = 0  # cable changes asked for, and applied by the serving thread
        self._applied = 0
        self._stop = threading.Event()
        self._plug()
        self._thread = threading.Thread(target=self._run, name=f"locker-sim-{board}", daemon=True)
        self._thread.start()

    # -- the physical world --------------------------------------------------------------------

    def close_door(self, lock: int) -> None:
        """Someone pushes the door shut: the hook re-engages."""
        with self._state:
            self._open.discard(lock)

    def open_door_by_hand(self, lock: int) -> None:
        """A door that was never latched (or forced): the hook reads released."""
        with self._state:
            self._open.add(lock)

    def jam(self, lock: int, jammed: bool = True) -> None:
        """A lock that gets pulsed but does not release (a bent hook, a door held shut)."""
        with self._state:
            if jammed:
                self._jammed.add(lock)
            else:
                self._jammed.discard(lock)

    def put_item(self, lock: int) -> None:
        with self._state:
            self._items.add(lock)

    def remove_item(self, lock: int) -> None:
        with self._state:
            self._items.discard(lock)

    def is_open(self, lock: int) -> bool:
        with self._state:
            return lock in self._open

    def unlock_count(self, lock: int) -> int:
        with self._state:
            return self._unlocks[lock]

    @property
    def total_unlocks(self) -> int:
        with self._state:
            return sum(self._unlocks)

    # -- cable ---------------------------------------------------------------------------------

    def unplug(self) -> None:
        self._set_plugged(False)

    def replug(self) -> None:
        self._set_plugged(True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LockerBoardSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_plugged(self, plugged: bool) -> None:
        # The serving thread owns the pty; wait until it has applied the change.
        with self._cable:
            self._want_plugged = plugged
            self._requested += 1
            wanted = self._requested
            self._cable.wait_for(lambda: self._applied >= wanted, timeout=2.0)

    def _plug(self) -> None:
        self._pty = PtyPair()
        self._wire = FaultyWire(self._pty.device_fd, self.faults)
        os.symlink(self._pty.path, self.path)

    def _unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self._pty is not None:
            self._pty.close()
            self._pty = None

    # -- the board's firmware ------------------------------------------------------------------

    def _run(self) -> None:
        framer = Framer.for_requests()
        while not self._stop.is_set():
            with self._cable:
                if self._want_plugged != (self._pty is not None):
                    if self._want_plugged:
                        self._plug()
                    else:
                        self._unplug()
                    framer.reset()
                self._applied = self._requested
                self._cable.notify_all()
            if self._pty is None:
                time.sleep(0.01)
                continue
            data = read_available(self._pty.device_fd, 0.02)
            if not data:
                continue
            for item in framer.feed(data):
                if isinstance(item, Rejected):
                    self.rejected.append(item)
                    continue
                if not self.responsive or item.board != self.board:
                    continue  # another board's traffic, or this one is dead
                self.requests_seen += 1
                self._answer(item.cmd, item.addr, item.lock)

    def _answer(self, cmd: int, addr: int, lock: int) -> None:
        with self._state:
            if cmd == CMD_UNLOCK and lock < self.locks:
                self._unlocks[lock] += 1
                if lock not in self._jammed:
                    self._open.add(lock)
                if self.browns_out_on_unlock:
                    self.responsive = False
                    return
                if not self.answers_unlock:
                    return
            elif cmd != CMD_STATUS and cmd != CMD_UNLOCK:
                return
            sensed = self._open if self.sensors is Sensors.DOOR else self._items
            reply = encode_reply(cmd, addr, set(self._open), set(sensed), self.polarity)
        if self.faults.chance(self.faults.drop_reply):
            log.debug("locker sim %d: dropping the reply to 0x%02x", self.board, cmd)
            return
        if self.faults.reply_delay_s:
            time.sleep(self.faults.reply_delay_s)
        try:
            self._wire.send(reply)
        except OSError:
            log.debug("locker sim %d: reply lost, nobody on the line", self.board)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devices.locker.simulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--board", type=int, default=0, help="board address 0-15")
    parser.add_argument("--locks", type=int, default=LOCKS_PER_BOARD)
    parser.add_argument("--sensors", choices=[s.value for s in Sensors], default="item")
    parser.add_argument("--lock-open-bit", type=int, choices=(0, 1), default=0)
    parser.add_argument("--sensor-active-bit", type=int, choices=(0, 1), default=1)
    add_fault_options(parser, commands=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    faults = faults_from(args)
    sim = LockerBoardSimulator(
        board=args.board,
        locks=args.locks,
        faults=faults,
        polarity=Polarity(args.lock_open_bit, args.sensor_active_bit),
        sensors=Sensors(args.sensors),
    )
    print(sim.path, flush=True)
    stop = stop_requested()
    try:
        stop.wait()
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
