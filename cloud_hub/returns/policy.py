"""The return policy HQ sets: kept here, sent to every store (stores judge returns offline).

A store that joins (or whose database was wiped) gets the policy with its re-seed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud_hub import commands, fleet
from cloud_hub.db import table, upsert
from cloud_hub.returns.tables import ReturnPolicyRow
from storelink_contract.commands import ReturnPolicySet
from storelink_contract.returns import ReturnPolicy

_RP = table(ReturnPolicyRow)


def current(conn: Connection) -> ReturnPolicy:
    """The policy in force (the built-in default until HQ sets one)."""
    text = conn.execute(select(_RP.c.policy).where(_RP.c.id == 1)).scalar_one_or_none()
    return ReturnPolicy() if text is None else ReturnPolicy.model_validate_json(text)


def is_set(conn: Connection) -> bool:
    return conn.execute(select(_RP.c.id).where(_RP.c.id == 1)).first() is not None


def set_policy(conn: Connection, policy: ReturnPolicy, now: datetime) -> dict[str, int]:
    """Store the policy and queue it for every known store; returns the command seq per store."""
    text = policy.model_dump_json()
    conn.execute(
        upsert(conn, _RP)
        .values(id=1, policy=text, updated_at=now)
        .on_conflict_do_update(index_elements=["id"], set_={"policy": text, "updated_at": now})
    )
    command = ReturnPolicySet(at=now, policy=policy)
    return commands.enqueue(conn, fleet.all_store_ids(conn), command, now)


def send_to(conn: Connection, store_id: str, now: datetime) -> bool:
    """Queue the policy for one store (its re-seed), if HQ has set one."""
    if not is_set(conn):
        return False
    commands.enqueue(conn, [store_id], ReturnPolicySet(at=now, policy=current(conn)), now)
    return True
