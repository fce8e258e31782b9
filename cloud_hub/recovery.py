"""What the hub does when a store knows more than the hub does: its database was restored.

A birth carries the store's positions. Restored from an older backup, the hub finds that:

- the store has had events acknowledged beyond what the hub now has applied. Those events were
  deleted at the store when acked, so nobody can send them again: the hub moves its position
  up to the store's (otherwise every later batch is a gap and the stream stalls forever), asks
  for a stock snapshot so on-hand is right again, and raises an alert naming the lost range;
- the store has applied commands beyond the hub's last allocated sequence. New commands would
  reuse those numbers and be skipped as duplicates: the hub allocates past them and re-seeds
  the store's catalog and safety stock, which the restored hub may hold newer than the store.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cloud_hub import commands, quarantine, reseed
from cloud_hub.db import Store, table
from storelink_contract.commands import ResyncRequest
from storelink_contract.session import StoreState
from storelink_contract.topics import store_topic

log = logging.getLogger(__name__)

_S = table(Store)


def reconcile_birth(conn: Connection, state: StoreState, now: datetime) -> list[str]:
    """Repair the hub's positions from a birth; return the alerts raised (empty normally)."""
    store_id = state.store_id
    alerts = []
    applied = int(
        conn.execute(select(_S.c.events_applied_upto).where(_S.c.store_id == store_id)).scalar_one()
    )
    # Commands first: anything queued below must get a number the store has not applied.
    if state.commands_applied_upto > commands.last_allocated(conn, store_id):
        commands.advance_past(conn, store_id, state.commands_applied_upto)
        reseed.reseed_store(conn, store_id, now)
        alerts.append(
            f"store {store_id} has applied commands up to {state.commands_applied_upto}, beyond "
            f"the hub's last one: the hub's database was restored; commands now continue after "
            f"{state.commands_applied_upto} and the catalog was sent again"
        )
    if state.events_acked_upto > applied:
        reason = (
            f"store {store_id} had events up to {state.events_acked_upto} acknowledged, but the "
            f"hub has applied only up to {applied}: the hub's database was restored. Events "
            f"{applied + 1}-{state.events_acked_upto} are lost to the hub's history; its stock "
            f"view is being resynced from a snapshot"
        )
        conn.execute(
            update(_S)
            .where(_S.c.store_id == store_id)
            .values(events_applied_upto=state.events_acked_upto)
        )
        commands.enqueue(
            conn, [store_id], ResyncRequest(at=now, reason="hub database restored"), now
        )
        alerts.append(reason)
    for reason in alerts:
        log.error("%s", reason)
        quarantine.record(
            conn,
            store_id=store_id,
            topic=store_topic(store_id, "up", "state"),
            seq=None,
            reason=reason,
            payload=state.model_dump_json().encode(),
            now=now,
        )
    return alerts
