"""What a test may not leave behind: threads and child processes.

``snapshot()`` before a test and ``leaked(before)`` after it (with a grace period for things
that are shutting down) tell the top-level conftest whether a test left a thread running or a
child process alive. Children are found through ``/proc/*/stat`` (parent pid = us), so no
psutil is needed; elsewhere than Linux only threads are checked.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path

# Daemon threads are normally allowed to outlive a test (libraries keep helper threads), but
# these names are MQTT connection threads: a leaked one keeps reconnecting forever and
# disturbs the tests after it. ``MqttSession`` names its thread "mqtt-<client id>";
# paho's loop_start() thread is "paho-mqtt-client-<client id>".
WATCHED_DAEMON_PREFIXES: tuple[str, ...] = ("mqtt-", "paho-mqtt-client-")


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[threading.Thread]
    children: frozenset[int]


@dataclass
class Leaks:
    threads: list[threading.Thread] = field(default_factory=list)
    children: dict[int, str] = field(default_factory=dict)
    """pid → command line"""

    def __bool__(self) -> bool:
        return bool(self.threads or self.children)

    def describe(self) -> str:
        parts = [f"thread {t.name!r} (daemon={t.daemon})" for t in self.threads]
        parts += [f"child process {pid}: {cmd}" for pid, cmd in self.children.items()]
        return "; ".join(parts)


def _watched(thread: threading.Thread) -> bool:
    if thread is threading.main_thread() or not thread.is_alive():
        return False
    return not thread.daemon or thread.name.startswith(WATCHED_DAEMON_PREFIXES)


def live_children() -> dict[int, str]:
    """Our child processes that are still running (zombies excluded), pid → command line."""
    me = os.getpid()
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 2 or int(fields[1]) != me or fields[0] == "Z":
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            cmdline = b""
        found[int(entry.name)] = cmdline.decode("utf-8", "replace")
    return found


def snapshot() -> Snapshot:
    return Snapshot(
        threads=frozenset(t for t in threading.enumerate() if _watched(t)),
        children=frozenset(live_children()),
    )


def leaked(
    before: Snapshot, grace_s: float = 3.0, ignore: Set[threading.Thread | int] = frozenset()
) -> Leaks:
    """Threads and children that appeared since ``before`` and are still alive after waiting up
    to ``grace_s`` for them to finish (a stopping broker or a joining thread is not a leak).
    ``ignore`` holds threads and pids that belong to someone else (wider-scoped fixtures)."""
    deadline = time.monotonic() + grace_s
    while True:
        now = snapshot()
        leaks = Leaks(
            threads=sorted(now.threads - before.threads - ignore, key=lambda t: t.name),
            children={
                pid: cmd
                for pid, cmd in live_children().items()
                if pid not in before.children and pid not in ignore
            },
        )
        if not leaks or time.monotonic() >= deadline:
            return leaks
        for thread in leaks.threads:
            thread.join(timeout=0.05)
        time.sleep(0.05)


def kill_children(pids: list[int]) -> None:
    """End leaked children so that they do not disturb the tests after the one that leaked
    them (they are this process's own children, found by parent pid)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
