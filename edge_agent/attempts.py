"""Wrong-code limits: a terminal, or an order, that sees too many wrong codes is locked out.

An 8-digit code is safe only if guessing is slow (NIST SP 800-63B 5.2.2): after
``wrong_codes_allowed`` wrong codes within ``wrong_codes_window`` the scope is locked for
``lockout``, and every attempt during the lockout is refused unread, right code or not, so a
lockout cannot be used to test codes. Scopes are ``device`` (the keypad, kiosk or camera the
code came from) and ``order`` (when the customer named the order first). The counts live in
the store database, so restarting the agent does not lift a lockout. Called by ``pickup``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from edge_agent.clock import iso, parse
from edge_agent.policy import FulfilmentPolicy

Scope = tuple[str, str]
"""(``device`` or ``order``, the device id or order id)."""


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str
    key: str
    until: datetime

    def retry_after_s(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))

    def message(self, now: datetime) -> str:
        what = "this terminal" if self.scope == "device" else f"order {self.key}"
        minutes = max(1, round(self.retry_after_s(now) / 60))
        return (
            f"too many wrong codes: {what} is locked for {minutes} more minute(s); "
            "please ask a member of staff"
        )


def locked(conn: sqlite3.Connection, scopes: list[Scope], now: datetime) -> Lockout | None:
    """The lockout in force for any of ``scopes``, or None. A read: refusing a flood of
    guesses during a lockout must cost the store no commits (sales need the write lock)."""
    stamp = iso(now)
    for scope, key in scopes:
        row = conn.execute(
            "SELECT locked_until FROM attempt_limit "
            "WHERE scope = ? AND key = ? AND locked_until > ?",
            (scope, key, stamp),
        ).fetchone()
        if row is not None:
            return Lockout(scope, key, parse(row[0]))
    return None


def record_failure(
    conn: sqlite3.Connection, policy: FulfilmentPolicy, scopes: list[Scope], now: datetime
) -> list[Lockout]:
    """Count one wrong code against each scope; return the lockouts this failure started."""
    stamp = iso(now)
    window_opened = iso(now - policy.wrong_codes_window)
    started = []
    for scope, key in scopes:
        (failures,) = conn.execute(
            "INSERT INTO attempt_limit (scope, key, failures, window_start) VALUES (?, ?, 1, ?) "
            "ON CONFLICT (scope, key) DO UPDATE SET "
            "failures = CASE WHEN window_start < ? THEN 1 ELSE failures + 1 END, "
            "window_start = CASE WHEN window_start < ? THEN excluded.window_start "
            "ELSE window_start END RETURNING failures",
            (scope, key, stamp, window_opened, window_opened),
        ).fetchone()
        if failures >= policy.wrong_codes_allowed:
            until = now + policy.lockout
            conn.execute(
                "UPDATE attempt_limit SET locked_until = ?, failures = 0, window_start = ? "
                "WHERE scope = ? AND key = ?",
                (iso(until), stamp, scope, key),
            )
            started.append(Lockout(scope, key, until))
    return started


def lift(conn: sqlite3.Connection, scope: str, key: str) -> bool:
    """A manager ends a lockout early (after checking who is at the locker)."""
    cur = conn.execute(
        "UPDATE attempt_limit SET locked_until = NULL, failures = 0 WHERE scope = ? AND key = ?",
        (scope, key),
    )
    return cur.rowcount > 0


@dataclass(frozen=True, slots=True)
class LimitState:
    scope: str
    key: str
    failures: int
    locked_until: datetime | None
    refused: int = 0
    """Attempts refused during lockouts since the agent started (counted in memory)."""


def states(conn: sqlite3.Connection, refused: dict[Scope, int] | None = None) -> list[LimitState]:
    """Every scope with recent failures or a lockout, for the staff page."""
    counts = refused or {}
    return [
        LimitState(
            scope, key, int(failures), parse(until) if until else None, counts.get((scope, key), 0)
        )
        for scope, key, failures, until in conn.execute(
            "SELECT scope, key, failures, locked_until FROM attempt_limit "
            "ORDER BY locked_until IS NULL, locked_until DESC, scope, key"
        )
    ]
