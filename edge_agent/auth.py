"""Per-device API tokens with roles.

Each till, kiosk and staff handheld gets its own token, so one lost device is revoked alone and
the audit trail names the device. Only a SHA-256 of each token is stored: tokens are 32 random
bytes, so a plain hash is enough to make a stolen database useless for calling the API.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from edge_agent.clock import iso


class Role(StrEnum):
    POS = "pos"
    KIOSK = "kiosk"
    STAFF = "staff"
    MANAGER = "manager"
    LOCKER = "locker"  # a locker bank's keypad terminal


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    role: Role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: sqlite3.Connection, device_id: str, role: Role, now: datetime) -> str:
    """Create (or replace) the token of a device; the token is returned once, never stored."""
    token = secrets.token_urlsafe(32)
    register_token(conn, device_id, role, token, now)
    return token


def register_token(
    conn: sqlite3.Connection, device_id: str, role: Role, token: str, now: datetime
) -> None:
    """Store a given token's hash for a device (bootstrap tokens in development)."""
    if len(token) < 16:
        raise ValueError("a device token must be at least 16 characters")
    conn.execute("DELETE FROM device_token WHERE device_id = ?", (device_id,))
    conn.execute(
        "INSERT INTO device_token (token_hash, device_id, role, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (token_hash) DO UPDATE SET device_id = excluded.device_id, "
        "role = excluded.role, revoked_at = NULL",
        (_digest(token), device_id, role.value, iso(now)),
    )


def revoke(conn: sqlite3.Connection, device_id: str, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE device_token SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL",
        (iso(now), device_id),
    )
    return cur.rowcount > 0


def authenticate(conn: sqlite3.Connection, token: str) -> Device | None:
    row = conn.execute(
        "SELECT device_id, role FROM device_token WHERE token_hash = ? AND revoked_at IS NULL",
        (_digest(token),),
    ).fetchone()
    return Device(row[0], Role(row[1])) if row else None


def parse_bootstrap(spec: str) -> list[tuple[str, Role, str]]:
    """``device_id:role:token,...`` from settings, validated."""
    entries = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            device_id, role, token = part.split(":", 2)
            entries.append((device_id, Role(role), token))
        except ValueError as exc:
            raise ValueError(f"bootstrap token {part.split(':')[0]!r}: {exc}") from exc
    return entries
