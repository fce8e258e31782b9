"""Customer notifications: queued with the change that causes them, delivered after commit.

A ``Notification`` row is written in the same transaction as the order change (its unique
``(order_id, kind, ref)`` makes a replayed event notify nobody twice). A job hands due rows to
the ``Notifier`` and marks them sent; a notifier that fails is retried with the row kept, and
after ``MAX_ATTEMPTS`` HQ gets an alert. A pickup code stays sealed (to the hub's key, as the
store sent it) in ``secret`` until the moment it is handed to the notifier; then the column is
emptied, so the hub's database never holds a usable code.

The notifier is pluggable (``STORELINK_HUB_NOTIFIER=package.module:Class``, built with the hub
settings). The default, ``LogNotifier``, appends each message as a JSON line to
``notifications_file``: the customer's inbox in development and the demo.
"""

from __future__ import annotations

import importlib
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from cloud_hub import alerts
from cloud_hub.db import table, upsert
from cloud_hub.orders.tables import Notification, OnlineOrder
from cloud_hub.settings import HubSettings
from storelink_contract.orders import PickupSecrets
from storelink_contract.sealing import SealError, open_sealed

log = logging.getLogger(__name__)

_N = table(Notification)
_O = table(OnlineOrder)

MAX_ATTEMPTS = 20
#: A claim older than this belongs to a hub process that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(seconds=60)


class CustomerNotification(BaseModel):
    """One message for one customer, as a notifier receives it."""

    notification_id: int
    order_id: str
    kind: str
    to_name: str
    to_email: str | None
    to_phone: str | None
    subject: str
    body: str
    pickup: PickupSecrets | None = None
    created_at: datetime


class NotifierError(Exception):
    """The message could not be sent now; it is retried later."""


class Notifier(Protocol):
    def send(self, note: CustomerNotification) -> None: ...


class LogNotifier:
    """Appends every message to a JSON-lines file (and logs it, without the pickup code)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def send(self, note: CustomerNotification) -> None:
        line = note.model_dump_json() + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        except OSError as exc:
            raise NotifierError(f"cannot write {self.path}: {exc}") from exc
        log.info("notified %s about order %s: %s", note.to_name, note.order_id, note.subject)


def load_notifier(settings: HubSettings) -> Notifier:
    """The notifier the settings name: ``log`` or ``package.module:Class``."""
    if settings.notifier == "log":
        return LogNotifier(settings.notifications_file)
    module_name, _, class_name = settings.notifier.partition(":")
    if not class_name:
        raise ValueError(
            f"STORELINK_HUB_NOTIFIER {settings.notifier!r}: use 'log' or 'pkg.mod:Class'"
        )
    notifier_class = getattr(importlib.import_module(module_name), class_name)
    notifier: Notifier = notifier_class(settings)
    return notifier


def queue(
    conn: Connection,
    *,
    order_id: str,
    kind: str,
    ref: str,
    subject: str,
    body: str,
    now: datetime,
    sealed: str | None = None,
) -> None:
    """Queue a message for the order's customer, once per ``(order_id, kind, ref)``."""
    conn.execute(
        upsert(conn, _N)
        .values(
            order_id=order_id,
            kind=kind,
            ref=ref[:64],
            subject=subject[:200],
            body=body,
            secret=sealed,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["order_id", "kind", "ref"])
    )


def deliver(
    engine: Engine, notifier: Notifier, now: datetime, seal_key: str, limit: int = 50
) -> int:
    """Send up to ``limit`` due messages (pickup secrets opened with ``seal_key``); return how
    many were sent."""
    with engine.begin() as conn:
        candidates = list(
            conn.execute(
                select(_N.c.id)
                .where(
                    _N.c.sent_at.is_(None),
                    _N.c.attempts < MAX_ATTEMPTS,
                    (_N.c.claimed_at.is_(None)) | (_N.c.claimed_at < now - CLAIM_TIMEOUT),
                )
                .order_by(_N.c.id)
                .limit(limit)
            ).scalars()
        )
    sent = 0
    for notification_id in candidates:
        try:
            note = _claim(engine, notification_id, now, seal_key)
        except SealError as exc:
            _unreadable(engine, notification_id, str(exc), now)
            continue
        if note is None:
            continue  # another hub process took it
        try:
            notifier.send(note)
        except Exception as exc:  # noqa: BLE001 - any notifier failure is retried, never lost
            _failed(engine, note, f"{type(exc).__name__}: {exc}", now)
            continue
        with engine.begin() as conn:
            conn.execute(
                update(_N).where(_N.c.id == notification_id).values(sent_at=now, secret=None)
            )
        sent += 1
    return sent


def _claim(
    engine: Engine, notification_id: int, now: datetime, seal_key: str
) -> CustomerNotification | None:
    with engine.begin() as conn:
        claimed = conn.execute(
            update(_N)
            .where(
                _N.c.id == notification_id,
                _N.c.sent_at.is_(None),
                (_N.c.claimed_at.is_(None)) | (_N.c.claimed_at < now - CLAIM_TIMEOUT),
            )
            .values(claimed_at=now)
        )
        if not claimed.rowcount:
            return None
        row = conn.execute(
            select(_N, _O.c.customer_name, _O.c.customer_email, _O.c.customer_phone)
            .join(_O, _O.c.order_id == _N.c.order_id)
            .where(_N.c.id == notification_id)
        ).one()
    m = row._mapping
    return CustomerNotification(
        notification_id=m["id"],
        order_id=m["order_id"],
        kind=m["kind"],
        to_name=m["customer_name"],
        to_email=m["customer_email"],
        to_phone=m["customer_phone"],
        subject=m["subject"],
        body=m["body"],
        pickup=(
            PickupSecrets.model_validate_json(open_sealed(seal_key, m["secret"]))
            if m["secret"]
            else None
        ),
        created_at=m["created_at"],
    )


def _unreadable(engine: Engine, notification_id: int, error: str, now: datetime) -> None:
    """A sealed secret the hub's key cannot open (the key was changed): retrying cannot help."""
    with engine.begin() as conn:
        order_id = conn.execute(
            update(_N)
            .where(_N.c.id == notification_id)
            .values(secret=None, attempts=MAX_ATTEMPTS, last_error=error, claimed_at=None)
            .returning(_N.c.order_id)
        ).scalar_one()
        alerts.record(
            conn,
            ref=f"notification:{notification_id}",
            kind="notification_failed",
            message=f"the pickup code of order {order_id} cannot be opened ({error}): "
            "the store must issue a new code",
            at=now,
            subject=order_id,
        )


def _failed(engine: Engine, note: CustomerNotification, error: str, now: datetime) -> None:
    log.warning("notification %d (%s) failed: %s", note.notification_id, note.kind, error)
    with engine.begin() as conn:
        attempts = conn.execute(
            update(_N)
            .where(_N.c.id == note.notification_id)
            .values(attempts=_N.c.attempts + 1, last_error=error[:2000], claimed_at=None)
            .returning(_N.c.attempts)
        ).scalar_one()
        if attempts >= MAX_ATTEMPTS:
            # Give up: drop the code (staff can issue a new one) and tell HQ.
            conn.execute(update(_N).where(_N.c.id == note.notification_id).values(secret=None))
            alerts.record(
                conn,
                ref=f"notification:{note.notification_id}",
                kind="notification_failed",
                message=f"could not send '{note.subject}' to the customer of order "
                f"{note.order_id} after {attempts} attempts: {error}",
                at=now,
                subject=note.order_id,
            )


class NotificationOut(BaseModel):
    """A notification as HQ sees it: never the pickup code."""

    id: int
    order_id: str
    kind: str
    subject: str
    body: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str


def for_order(conn: Connection, order_id: str) -> list[NotificationOut]:
    rows = conn.execute(select(_N).where(_N.c.order_id == order_id).order_by(_N.c.id))
    return [NotificationOut.model_validate(dict(r._mapping)) for r in rows]
