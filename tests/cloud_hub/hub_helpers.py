"""Builders for hand-made wire messages used by the hub's tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from storelink_contract.envelope import Batch, decode_batch, encode_batch
from storelink_contract.events import stock_digest


def received(sku: str, qty: int, at: datetime, receipt: str = "r1") -> dict[str, Any]:
    return {
        "type": "stock_received",
        "at": at.isoformat(),
        "receipt_id": receipt,
        "deltas": [{"sku": sku, "delta": qty, "reason": "receipt"}],
    }


def sale(sku: str, qty: int, at: datetime, sale_id: str = "s1") -> dict[str, Any]:
    return {
        "type": "sale_recorded",
        "at": at.isoformat(),
        "sale_id": sale_id,
        "terminal_id": "pos-1",
        "lines": [{"sku": sku, "quantity": qty, "unit_price_cents": 199}],
        "total_cents": 199 * qty,
        "deltas": [{"sku": sku, "delta": -qty, "reason": "sale"}],
    }


def snapshot(on_hand: dict[str, int], at: datetime) -> dict[str, Any]:
    return {"type": "stock_snapshot", "at": at.isoformat(), "on_hand": on_hand}


def digest(on_hand: dict[str, int], at: datetime) -> dict[str, Any]:
    count, hexdigest = stock_digest(on_hand.items())
    return {"type": "stock_digest", "at": at.isoformat(), "sku_count": count, "digest": hexdigest}


def payload(sender: str, first_seq: int, items: list[dict[str, Any]]) -> bytes:
    return encode_batch(sender, "events", first_seq, [json.dumps(i) for i in items])


def batch(sender: str, first_seq: int, items: list[dict[str, Any]]) -> Batch:
    return decode_batch(payload(sender, first_seq, items))


def receipts(n: int, at: datetime, sku: str = "SKU-1") -> list[dict[str, Any]]:
    return [received(sku, 1, at + timedelta(seconds=i), f"r{i}") for i in range(n)]
