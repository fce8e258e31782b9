"""One timestamp format for the store database: ISO 8601 in UTC, comparable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
