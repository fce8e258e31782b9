"""Failed sign-ins per client address, so one address cannot guess across many usernames.

The per-user lockout (``users.WRONG_PASSWORDS_ALLOWED``) stops guessing one account. It does not
stop one address trying a common password on every account, and every guess costs the hub a
scrypt hash. So failures are also counted per address in a sliding window, and an address over
the limit is refused before its password is checked at all: the refusal costs nothing.

The counts live in the hub process's memory. A restart forgets them, which only gives a
guesser one more window, and the per-user lockout (kept in the database) still holds.
Behind a reverse proxy every client has the proxy's address unless uvicorn is told to trust
its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

#: Failed sign-ins from one address within ``WINDOW`` before it is refused.
FAILURES_ALLOWED = 30
WINDOW = timedelta(minutes=10)
#: Addresses tracked at most; the oldest are forgotten first (a flood of spoofed sources
#: cannot grow the hub's memory without bound).
MAX_ADDRESSES = 10_000


class SignInThrottle:
    """Thread-safe sliding-window count of failed sign-ins per client address."""

    def __init__(
        self, failures_allowed: int = FAILURES_ALLOWED, window: timedelta = WINDOW
    ) -> None:
        self._allowed = failures_allowed
        self._window = window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[datetime]] = {}

    def retry_after(self, address: str, now: datetime) -> float | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        with self._lock:
            times = self._recent(address, now)
            if times is None or len(times) < self._allowed:
                return None
            return max(1.0, (times[0] + self._window - now).total_seconds())

    def failed(self, address: str, now: datetime) -> None:
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                if len(self._failures) >= MAX_ADDRESSES:
                    del self._failures[next(iter(self._failures))]
                times = self._failures[address] = deque()
            times.append(now)

    def _recent(self, address: str, now: datetime) -> deque[datetime] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times
