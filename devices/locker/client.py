"""``LockerBoard``: what the store agent calls to read a lock board and open a door.

The client owns the RS485 bus. Every call becomes a job on one queue served by one worker
thread, so callers in many threads (kiosk pickups, staff loading, the status poller) never
interleave frames on the wire. Before each request the worker drops stale bytes and waits for a
quiet line, then reads only the reply it expects (command and address must match).

Opening a door is not idempotent, so an unlock is never blindly re-sent. Field boards sometimes
open the lock and then fail to answer (or answer with a corrupted frame). After an unlock with
no good reply, or with a reply that still shows the lock latched, the worker asks the board for
its status: if the lock is released the call succeeds (``confirmed_by="status"``) without a
second pulse; only if the status shows the lock still latched is the unlock sent again (up to
``retries`` more times). If the board will not even answer the status, the outcome is unknown
and ``open_lock`` raises ``DeviceTimeout`` rather than guess: a second pulse could open a door
twice, or re-open one a customer had just shut on their parcel.

Errors: ``DeviceTimeout`` (no valid answer after the retries), ``DeviceUnavailable`` (the port
cannot be opened or was lost; the next call reopens it), ``ValueError`` for a lock number out
of range. After either error from ``open_lock`` the door's state is unknown: read ``status()``
before deciding anything, never re-issue the unlock on the strength of the error alone.
Counters live in ``stats`` (frames) and ``counters`` (commands, retries, stale bytes).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from devices.errors import DeviceError, DeviceTimeout, DeviceUnavailable
from devices.locker.protocol import (
    CMD_STATUS,
    CMD_UNLOCK,
    LOCKS_PER_BOARD,
    BoardStatus,
    Frame,
    Framer,
    Polarity,
    Rejected,
    Sensors,
    address,
    decode_status_reply,
    decode_unlock_reply,
    status_request,
    unlock_request,
)
from devices.locker.transport import BAUDRATE, LockerLine
from devices.stats import DeviceStats

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UnlockResult:
    """How an ``open_lock`` ended.

    ``opened`` is False only when the board answered and its status shows the lock still
    latched after every pulse (a jammed lock, a door held shut). ``unlock_commands`` counts the
    unlock frames put on the wire.
    """

    board: int
    lock: int
    opened: bool
    confirmed_by: Literal["reply", "status"]
    unlock_commands: int
    status: BoardStatus


@dataclass
class LockerCounters:
    """Bus-level counters, written by the worker thread only."""

    commands: int = 0
    retries: int = 0
    timeouts: int = 0
    stale_bytes: int = 0  # dropped before a request: late replies, duplicates, noise
    unexpected_frames: int = 0  # valid frames that were not the awaited reply
    unlocks_sent: int = 0
    unlocks_confirmed_by_status: int = 0


_Job = tuple[Callable[[], Any], "Future[Any]"]


class LockerBoard:
    """One Kerong KR-CU16 board (16 locks) at ``board`` on the RS485 line at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        board: int = 0,
        polarity: Polarity | None = None,
        sensors: Sensors = Sensors.ITEM,
        timeout_s: float = 0.3,
        retries: int = 2,
        baudrate: int = BAUDRATE,
        quiet_s: float = 0.03,
    ) -> None:
        address(board)  # validates the board number
        if retries < 0:
            raise ValueError("retries cannot be negative")
        self.url = url
        self.board = board
        self.polarity = polarity or Polarity()
        self.sensors = sensors
        self.timeout_s = timeout_s
        self.retries = retries
        self.quiet_s = quiet_s
        self.stats = DeviceStats()
        self.counters = LockerCounters()
        self._line = LockerLine(url, baudrate=baudrate)
        self._framer = Framer.for_replies()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._submit_lock = threading.Lock()
        self._worker = threading.Thread(
            target=self._serve, name=f"locker-board-{board}", daemon=True
        )
        self._worker.start()

    # -- public API (any thread) ---------------------------------------------------------------

    def status(self) -> BoardStatus:
        """The board's locks and sensors now."""
        return self._submit(self._status_job)

    def open_lock(self, lock: int) -> UnlockResult:
        """Release ``lock`` (0-15) once; see the module docstring for the no-reply rule."""
        if not 0 <= lock < LOCKS_PER_BOARD:
            raise ValueError(f"lock must be 0-{LOCKS_PER_BOARD - 1}, not {lock}")
        return self._submit(lambda: self._open_job(lock))

    def close(self) -> None:
        """Finish the queued commands, stop the worker and close the port."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._worker.join()

    def __enter__(self) -> LockerBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the queue -----------------------------------------------------------------------------

    def _submit(self, work: Callable[[], T]) -> T:
        future: Future[T] = Future()
        with self._submit_lock:
            if self._closed:
                raise DeviceUnavailable(f"locker board {self.board} on {self.url} is closed")
            self._jobs.put((work, future))
        return future.result()

    def _serve(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                work, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(work())
                except DeviceError as exc:
                    self.stats.last_error = str(exc)
                    future.set_exception(exc)
                except Exception as exc:  # the bus owner must outlive a bug in a job
                    log.exception("locker board %d: command failed", self.board)
                    future.set_exception(exc)
        finally:
            self._line.close()

    # -- jobs (worker thread only) -------------------------------------------------------------

    def _status_job(self) -> BoardStatus:
        status = self._query_status()
        if status is None:
            raise DeviceTimeout(
                f"locker board {self.board} on {self.url}: no status after "
                f"{1 + self.retries} attempts"
            )
        return status

    def _open_job(self, lock: int) -> UnlockResult:
        addr = address(self.board, lock)
        sent = 0
        while True:
            sent += 1
            self.counters.unlocks_sent += 1
            frame = self._exchange(
                unlock_request(self.board, lock),
                lambda f: f.cmd == CMD_UNLOCK and f.addr == addr,
            )
            if frame is not None:
                reply = decode_unlock_reply(frame, self.polarity, self.sensors)
                if reply.opened:
                    return UnlockResult(self.board, lock, True, "reply", sent, reply.status)
            # No (valid) reply, or one that still shows the lock latched: ask, never assume.
            status = self._query_status()
            if status is None:
                raise DeviceTimeout(
                    f"locker board {self.board} on {self.url}: unlock of lock {lock} sent "
                    f"{sent} time(s) but the board does not answer; the door may be open"
                )
            if status.is_open(lock):
                self.counters.unlocks_confirmed_by_status += 1
                log.info(
                    "locker board %d: lock %d opened without a reply (confirmed by status)",
                    self.board,
                    lock,
                )
                return UnlockResult(self.board, lock, True, "status", sent, status)
            if sent > self.retries:
                log.warning(
                    "locker board %d: lock %d still latched after %d unlocks",
                    self.board,
                    lock,
                    sent,
                )
                return UnlockResult(self.board, lock, False, "status", sent, status)
            self.counters.retries += 1

    def _query_status(self) -> BoardStatus | None:
        for attempt in range(1 + self.retries):
            if attempt:
                self.counters.retries += 1
            frame = self._exchange(
                status_request(self.board),
                lambda f: f.cmd == CMD_STATUS and f.board == self.board,
            )
            if frame is not None:
                return decode_status_reply(frame, self.polarity, self.sensors)
        return None

    def _exchange(self, request: bytes, expected: Callable[[Frame], bool]) -> Frame | None:
        """Send one request and wait ``timeout_s`` for the reply it expects (None if none)."""
        self._line.ensure_open()
        self.counters.commands += 1
        # Whatever is still buffered belongs to an earlier exchange (a duplicate, a late reply).
        stale = len(self._framer.pending) + self._line.settle(self.quiet_s)
        self.counters.stale_bytes += stale
        self._framer.reset()
        self._line.send(request)
        deadline = time.monotonic() + self.timeout_s
        reply: Frame | None = None
        while reply is None and time.monotonic() < deadline:
            for item in self._framer.feed(self._line.read()):
                if isinstance(item, Rejected):
                    self.stats.reject(item.reason)
                    log.debug("locker board %d: rejected %s", self.board, item.reason)
                elif reply is None and expected(item):
                    self.stats.accepted()
                    reply = item
                else:
                    self.counters.unexpected_frames += 1
        if reply is None:
            self.counters.timeouts += 1
        return reply
