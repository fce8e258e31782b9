"""Pickup codes, QR tokens and staff load codes: issued here, stored only as keyed hashes.

A code is 8 random digits, a QR token ~160 random bits (``SLP1:<store>:<token>``). The store
keeps HMAC-SHA256 digests under ``code_key``, which lives in the agent's settings and not in the
database, so a copied database opens no door and reveals no code. Pickup and load codes share
one digest space ("code:<digits>") because the locker keypad takes both; an active digest is
unique (a partial unique index), and issuing retries on the rare collision.

Credentials are ``active`` until ``used`` (single use), ``expired`` or ``revoked``; the row is
kept afterwards so a second try of a used code is told so instead of just "wrong code".
Called by fulfilment (issue at acceptance, load codes at packing) and pickup (redeem).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge_agent.clock import iso, parse
from storelink_contract.orders import PickupSecrets

Kind = Literal["pickup_code", "pickup_qr", "load_code"]

QR_PREFIX = "SLP1"
_ISSUE_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class Credential:
    id: int
    allocation_id: str
    kind: Kind
    state: str
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def code_digest(key: bytes, code: str) -> str:
    return hmac.new(key, f"code:{code}".encode(), hashlib.sha256).hexdigest()


def qr_digest(key: bytes, qr: str) -> str:
    return hmac.new(key, f"qr:{qr}".encode(), hashlib.sha256).hexdigest()


def qr_store(qr: str) -> str | None:
    """The store id a pickup QR was issued by, or None if the text is not a pickup QR."""
    parts = qr.split(":")
    if len(parts) != 3 or parts[0] != QR_PREFIX:
        return None
    return parts[1]


def issue_pickup(
    conn: sqlite3.Connection,
    key: bytes,
    store_id: str,
    allocation_id: str,
    expires_at: datetime | None,
    now: datetime,
) -> PickupSecrets:
    """New pickup code and QR for an order; any earlier ones stop working."""
    revoke(conn, allocation_id, ("pickup_code", "pickup_qr"), now)
    code = _insert_code(conn, key, allocation_id, "pickup_code", expires_at, now)
    qr = f"{QR_PREFIX}:{store_id}:{secrets.token_urlsafe(20)}"
    _insert(conn, allocation_id, "pickup_qr", qr_digest(key, qr), expires_at, now)
    return PickupSecrets(code=code, qr=qr)


def issue_load_code(
    conn: sqlite3.Connection, key: bytes, allocation_id: str, expires_at: datetime, now: datetime
) -> str:
    """A staff code that opens the order's compartment for loading (until it is loaded)."""
    revoke(conn, allocation_id, ("load_code",), now)
    return _insert_code(conn, key, allocation_id, "load_code", expires_at, now)


def find_code(conn: sqlite3.Connection, key: bytes, code: str) -> Credential | None:
    """The credential a keypad code belongs to: the active one, else the latest used or
    expired one (so the caller can say why it no longer opens), else None."""
    return _find(conn, code_digest(key, code))


def find_qr(conn: sqlite3.Connection, key: bytes, qr: str) -> Credential | None:
    return _find(conn, qr_digest(key, qr))


def claim(conn: sqlite3.Connection, credential_id: int, now: datetime) -> bool:
    """Use a single-use credential: False only when another request used it first (one that
    expired or was revoked meanwhile is still this request's to use up)."""
    row = conn.execute(
        "UPDATE credential SET state = 'used', closed_at = ? WHERE id = ? AND state != 'used' "
        "RETURNING id",
        (iso(now), credential_id),
    ).fetchone()
    return row is not None


def used(conn: sqlite3.Connection, credential_id: int) -> bool:
    row = conn.execute("SELECT state FROM credential WHERE id = ?", (credential_id,)).fetchone()
    return row is not None and row[0] == "used"


def use_all(
    conn: sqlite3.Connection, allocation_id: str, kinds: tuple[Kind, ...], now: datetime
) -> None:
    """Close every active credential of ``kinds`` as used: a code and its QR are one pickup."""
    _close(conn, allocation_id, kinds, "used", now)


def revoke(
    conn: sqlite3.Connection, allocation_id: str, kinds: tuple[Kind, ...], now: datetime
) -> None:
    _close(conn, allocation_id, kinds, "revoked", now)


def expire(
    conn: sqlite3.Connection, allocation_id: str, kinds: tuple[Kind, ...], now: datetime
) -> None:
    _close(conn, allocation_id, kinds, "expired", now)


def set_expiry(
    conn: sqlite3.Connection, allocation_id: str, kinds: tuple[Kind, ...], at: datetime
) -> None:
    conn.execute(
        f"UPDATE credential SET expires_at = ? WHERE allocation_id = ? AND state = 'active' "  # noqa: S608
        f"AND kind IN ({','.join('?' * len(kinds))})",
        (iso(at), allocation_id, *kinds),
    )


def _close(
    conn: sqlite3.Connection,
    allocation_id: str,
    kinds: tuple[Kind, ...],
    state: str,
    now: datetime,
) -> None:
    conn.execute(
        f"UPDATE credential SET state = ?, closed_at = ? WHERE allocation_id = ? "  # noqa: S608
        f"AND state = 'active' AND kind IN ({','.join('?' * len(kinds))})",
        (state, iso(now), allocation_id, *kinds),
    )


def _insert_code(
    conn: sqlite3.Connection,
    key: bytes,
    allocation_id: str,
    kind: Kind,
    expires_at: datetime | None,
    now: datetime,
) -> str:
    for _ in range(_ISSUE_ATTEMPTS):
        code = f"{secrets.randbelow(10**8):08d}"
        try:
            _insert(conn, allocation_id, kind, code_digest(key, code), expires_at, now)
        except sqlite3.IntegrityError:
            continue  # an active code already has these digits: draw again
        return code
    raise RuntimeError("could not draw a free code; far too many active codes in this store")


def _insert(
    conn: sqlite3.Connection,
    allocation_id: str,
    kind: Kind,
    digest: str,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO credential (allocation_id, kind, digest, state, expires_at, created_at) "
        "VALUES (?, ?, ?, 'active', ?, ?)",
        (allocation_id, kind, digest, iso(expires_at) if expires_at else None, iso(now)),
    )


def _find(conn: sqlite3.Connection, digest: str) -> Credential | None:
    row = conn.execute(
        "SELECT id, allocation_id, kind, state, expires_at FROM credential WHERE digest = ? "
        "ORDER BY state = 'active' DESC, id DESC LIMIT 1",
        (digest,),
    ).fetchone()
    if row is None:
        return None
    return Credential(
        id=int(row[0]),
        allocation_id=row[1],
        kind=row[2],
        state=row[3],
        expires_at=parse(row[4]) if row[4] else None,
    )
