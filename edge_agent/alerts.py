"""Store alerts: what staff on the floor and HQ should look at, kept here and sent up.

Each alert is written to ``store_alert`` (the staff pages read it, offline too) and to the
outbox as a ``store_alert`` event in the same transaction, so HQ sees exactly the alerts the
store raised, once each, even when they were raised offline.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge_agent import outbox
from edge_agent.clock import iso, parse
from storelink_contract.order_events import StoreAlert

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]


def raise_alert(
    conn: sqlite3.Connection,
    kind: str,
    message: str,
    now: datetime,
    *,
    subject: str = "",
    severity: Severity = "warning",
) -> str:
    """Record an alert and queue it for the hub (inside the caller's transaction)."""
    alert_id = uuid.uuid4().hex
    log.warning("alert %s (%s): %s", kind, subject or "-", message)
    conn.execute(
        "INSERT INTO store_alert (alert_id, kind, severity, subject, message, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (alert_id, kind, severity, subject, message, iso(now)),
    )
    outbox.append(
        conn,
        StoreAlert(
            at=now,
            alert_id=alert_id,
            kind=kind,
            severity=severity,
            subject=subject[:100],
            message=message[:1000],
        ),
    )
    return alert_id


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    kind: str
    severity: str
    subject: str
    message: str
    at: datetime


def recent(conn: sqlite3.Connection, limit: int = 100) -> list[AlertView]:
    return [
        AlertView(a, k, s, subj, msg, parse(at))
        for a, k, s, subj, msg, at in conn.execute(
            "SELECT alert_id, kind, severity, subject, message, at FROM store_alert "
            "ORDER BY at DESC LIMIT ?",
            (limit,),
        )
    ]
