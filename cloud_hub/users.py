"""HQ users and their sign-in sessions, for the dashboard.

Roles: ``viewer`` reads everything; ``operator`` may also act (replay a quarantined message,
acknowledge an alert, ask a store for a resync, change policies). Passwords are stored as
scrypt hashes (N=2^14, r=8, p=1, a random 16-byte salt); a user with five wrong passwords in
a row is locked for 15 minutes. A session is a random token in an HttpOnly cookie, stored
here only as its SHA-256, with its own CSRF token that every state-changing request made with
the cookie must echo in ``X-CSRF-Token``.

Signing in checks the password outside any write transaction (scrypt takes ~50 ms: on SQLite
the hub's one write lock must not wait for it), then counts a failure with one atomic UPDATE,
so parallel guesses cannot share one count. Every refusal says the same thing, for a known
user, an unknown one or a locked one, and costs one scrypt each: the answer tells nothing
about which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Literal

from sqlalchemy import Engine, case, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from cloud_hub.db import READ_ONLY, table, upsert, utc_field

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
WRONG_PASSWORDS_ALLOWED = 5
LOCKOUT = timedelta(minutes=15)
_N, _R, _P = 2**14, 8, 1


class HqUser(SQLModel, table=True):
    __tablename__ = "hq_user"

    username: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=300)
    failed_logins: int = 0
    locked_until: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field()


class HqSession(SQLModel, table=True):
    __tablename__ = "hq_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field(index=True)


_U = table(HqUser)
_SES = table(HqSession)
USER_TABLES: tuple[type[SQLModel], ...] = (HqUser, HqSession)


@dataclass(frozen=True, slots=True)
class SignedIn:
    username: str
    role: Role
    csrf_token: str


class SignInRefused(Exception):
    """Wrong name or password, or a locked account; the message is safe to show."""


#: The one answer to every refused sign-in.
REFUSED = "wrong user name or password (5 wrong tries lock an account for 15 minutes)"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _password_ok(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate.hex(), digest)


@cache
def _decoy_hash() -> str:
    return hash_password("a decoy, so timing says nothing")


def add_user(conn: Connection, username: str, role: Role, password: str, now: datetime) -> None:
    """Create the user, or reset its role and password (and any lockout). A reset ends the
    user's sessions: whoever knew the old password is signed out too."""
    if not 1 <= len(username) <= 64:
        raise ValueError("a user name is 1 to 64 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise ValueError("a password must be at least 10 characters")
    values = {
        "role": role,
        "password_hash": hash_password(password),
        "failed_logins": 0,
        "locked_until": None,
    }
    conn.execute(delete(_SES).where(_SES.c.username == username))
    conn.execute(
        upsert(conn, _U)
        .values(username=username, created_at=now, **values)
        .on_conflict_do_update(index_elements=["username"], set_=values)
    )


def remove_user(conn: Connection, username: str) -> bool:
    conn.execute(delete(_SES).where(_SES.c.username == username))
    return bool(conn.execute(delete(_U).where(_U.c.username == username)).rowcount)


def sign_in(
    engine: Engine, username: str, password: str, now: datetime, ttl: timedelta
) -> tuple[str, SignedIn]:
    """A new session (its cookie token, and who it is) or ``SignInRefused``."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        user = conn.execute(
            select(_U.c.password_hash, _U.c.locked_until).where(_U.c.username == username)
        ).first()
    password_ok = _password_ok(password, user.password_hash if user else _decoy_hash())
    if user is None:
        raise SignInRefused(REFUSED)
    if not password_ok:
        failures = _U.c.failed_logins + 1
        locks = failures >= WRONG_PASSWORDS_ALLOWED
        with engine.begin() as conn:
            conn.execute(
                update(_U)
                .where(_U.c.username == username)
                .values(
                    failed_logins=case((locks, 0), else_=failures),
                    locked_until=case((locks, now + LOCKOUT), else_=_U.c.locked_until),
                )
            )
        raise SignInRefused(REFUSED)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with engine.begin() as conn:
        # Takes the row lock (on SQLite the write lock is already held), so a lock set by a
        # parallel wrong guess since the read above is seen here.
        signed = conn.execute(
            update(_U)
            .where(
                _U.c.username == username,
                _U.c.locked_until.is_(None) | (_U.c.locked_until <= now),
            )
            .values(failed_logins=0, locked_until=None)
            .returning(_U.c.role)
        ).first()
        if signed is not None:
            conn.execute(delete(_SES).where(_SES.c.expires_at < now))
            conn.execute(
                insert(_SES).values(
                    token_hash=_digest(token),
                    username=username,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
    if signed is None:
        raise SignInRefused(REFUSED)
    return token, SignedIn(username, signed.role, csrf)


def session(conn: Connection, token: str, now: datetime) -> SignedIn | None:
    row = conn.execute(
        select(_SES.c.username, _SES.c.csrf_token, _U.c.role)
        .join(_U, _U.c.username == _SES.c.username)
        .where(_SES.c.token_hash == _digest(token), _SES.c.expires_at > now)
    ).first()
    return None if row is None else SignedIn(row.username, row.role, row.csrf_token)


def sign_out(conn: Connection, token: str) -> None:
    conn.execute(delete(_SES).where(_SES.c.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_bootstrap(spec: str) -> list[tuple[str, Role, str]]:
    """``name:role:password,...`` (development and the demo)."""
    out: list[tuple[str, Role, str]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, rest = part.partition(":")
        role, _, password = rest.partition(":")
        if not name or role not in ROLES or not password:
            raise ValueError(f"bootstrap user {name!r}: use name:viewer|operator:password")
        out.append((name, role, password))
    return out
