"""What every device simulator shares: a pty pair (or TCP port) and the faults of real devices.

A simulator owns the "device" end of a pty pair and prints the path of the other end, which a
driver opens like ``/dev/ttyUSB0``. ``Faults`` holds the knobs for what real devices do wrong;
``FaultyWire.send`` applies them to every frame a simulator emits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import select
import signal
import termios
import threading
import time
import tty
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Misbehaviour knobs, each a probability or a delay; all off by default."""

    split: float = 0.0  # send a frame in several chunks with small pauses
    duplicate: float = 0.0  # send a frame twice
    stray: float = 0.0  # put random noise bytes before a frame
    corrupt: float = 0.0  # flip a bit in the frame (bad checksum / bad data)
    drop_reply: float = 0.0  # a command gets no reply at all
    reply_delay_s: float = 0.0  # answer commands late
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability


class PtyPair:
    """A pseudo-terminal: ``device_fd`` is the simulator's end, ``path`` the driver's."""

    def __init__(self) -> None:
        self.device_fd, self._peer_fd = os.openpty()
        tty.setraw(self.device_fd)
        tty.setraw(self._peer_fd)
        attrs = termios.tcgetattr(self._peer_fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._peer_fd, termios.TCSANOW, attrs)
        self.path = os.ttyname(self._peer_fd)

    def close(self) -> None:
        for fd in (self.device_fd, self._peer_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class FaultyWire:
    """Writes frames to a file descriptor the way a flaky device would."""

    def __init__(self, fd: int, faults: Faults) -> None:
        self.fd = fd
        self.faults = faults
        self._lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        f = self.faults
        data = frame
        if f.chance(f.corrupt) and data:
            i = f.rng.randrange(len(data))
            data = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]
        if f.chance(f.stray):
            data = bytes(f.rng.randrange(1, 256) for _ in range(f.rng.randint(1, 4))) + data
        copies = 2 if f.chance(f.duplicate) else 1
        with self._lock:
            for _ in range(copies):
                if f.chance(f.split) and len(data) > 1:
                    cut = f.rng.randrange(1, len(data))
                    os.write(self.fd, data[:cut])
                    time.sleep(0.02)
                    os.write(self.fd, data[cut:])
                else:
                    os.write(self.fd, data)


def read_available(fd: int, timeout: float) -> bytes:
    """Bytes the driver wrote to the simulator, waiting up to ``timeout`` for the first."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""


def add_fault_options(parser: argparse.ArgumentParser, *, commands: bool) -> None:
    """The fault knobs as command-line options, named alike for every simulator.

    ``commands``: the device answers commands, so replies can be dropped or late.
    """
    knobs = ["split", "duplicate", "stray", "corrupt"]
    if commands:
        knobs.append("drop-reply")
    for knob in knobs:
        parser.add_argument(f"--{knob}", type=float, default=0.0, help="probability 0-1")
    if commands:
        parser.add_argument("--reply-delay-s", type=float, default=0.0, help="seconds")
    parser.add_argument("--seed", type=int, default=None, help="for repeatable faults")


def faults_from(args: argparse.Namespace) -> Faults:
    """``Faults`` from options added by ``add_fault_options``."""
    return Faults(
        split=args.split,
        duplicate=args.duplicate,
        stray=args.stray,
        corrupt=args.corrupt,
        drop_reply=getattr(args, "drop_reply", 0.0),
        reply_delay_s=getattr(args, "reply_delay_s", 0.0),
        seed=args.seed,
    )


def stop_requested() -> threading.Event:
    """An event that SIGTERM (a supervisor) or SIGINT (Ctrl-C) sets: how a simulator CLI
    knows to close its pty or port and exit. Call from the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
