"""A store with stock, a locker bank and its board, for the fulfilment tests.

Everything is real: a SQLite file, the Kerong board simulator on a pty, the ``LockerBoard``
client driving it. ``Shop`` bundles them with a clock the test moves by hand, and the few
steps every test repeats (an allocation arriving from the hub, reading what went into the
outbox, a poll of the board's sensors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloud_hub.settings import DEV_SEAL_KEY
from devices.locker.client import LockerBoard, UnlockResult
from devices.locker.protocol import BoardStatus
from devices.locker.simulator import LockerBoardSimulator
from edge_agent import catalog, commands, locker_watch, lockers
from edge_agent.db import StoreDB
from edge_agent.doors import DoorOpener
from edge_agent.movements import ReceiptRequest, receive_stock
from edge_agent.pickup import LockerDesk
from edge_agent.policy import FulfilmentPolicy
from storelink_contract.commands import OrderAllocation, OrderCancel
from storelink_contract.common import Product
from storelink_contract.orders import OrderLineItem, PickupSecrets, ShippingAddress
from storelink_contract.sealing import open_sealed, public_key

NOW = datetime.fromisoformat("2026-11-23T12:00:00+00:00")
MUG = Product(sku="MUG-1", gtin="4006381333931", name="Stoneware mug", price_cents=450)
TEE = Product(sku="TEE-2", gtin="0012345678905", name="Organic tee", price_cents=1500)
CAP = Product(sku="CAP-3", name="Canvas cap", price_cents=900)
BANK = "bank-a"
HUB_PUBLIC_KEY = public_key(DEV_SEAL_KEY)
#: Doors 1-2 small, 3 medium, 4 large.
LAYOUT = {1: "S", 2: "S", 3: "M", 4: "L"}


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class DirectBoards:
    """The board client as the door logic's driver (the agent wires its device manager in)."""

    def __init__(self, boards: dict[str, LockerBoard]) -> None:
        self.boards = boards

    def status(self, board_device: str) -> BoardStatus:
        return self.boards[board_device].status()

    def open(self, board_device: str, lock: int) -> UnlockResult:
        return self.boards[board_device].open_lock(lock)


@dataclass
class Shop:
    db: StoreDB
    sim: LockerBoardSimulator
    board: LockerBoard
    clock: Clock
    policy: FulfilmentPolicy
    desk: LockerDesk
    _seq: int = field(default=0)

    def allocate(
        self,
        order_id: str,
        lines: dict[str, int],
        *,
        method: str = "locker_pickup",
        allocation_id: str | None = None,
        respond_by: datetime | None = None,
        ship_address: ShippingAddress | None = None,
    ) -> str:
        command = OrderAllocation(
            at=self.clock.now,
            order_id=order_id,
            allocation_id=allocation_id or f"{order_id}-1",
            method=method,  # type: ignore[arg-type]
            lines=tuple(OrderLineItem(sku=s, quantity=q) for s, q in lines.items()),
            customer_name="Ada L.",
            ship_address=ship_address,
            respond_by=respond_by or self.clock.now + timedelta(minutes=5),
            seal_to=HUB_PUBLIC_KEY,
        )
        with self.db.write() as conn:
            commands.apply_command(conn, command, self.clock.now, self.policy)
        return command.allocation_id

    def pickup(self, order_id: str) -> PickupSecrets:
        """The customer's code and QR, as the hub opens them from the store's sealed box."""
        return open_pickup(
            next(e for e in self.events("order_accepted") if e["order_id"] == order_id)
        )

    def cancel(self, order_id: str, allocation_id: str | None = None) -> None:
        command = OrderCancel(
            at=self.clock.now,
            order_id=order_id,
            allocation_id=allocation_id or f"{order_id}-1",
            reason="customer cancelled",
        )
        with self.db.write() as conn:
            commands.apply_command(conn, command, self.clock.now, self.policy)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [
            json.loads(p)
            for (p,) in self.db.read().execute(
                "SELECT payload FROM outbox WHERE type = ? ORDER BY seq", (kind,)
            )
        ]

    def poll(self) -> BoardStatus:
        """One sensor reading of the board, as the device manager's poll hands it over."""
        status = self.board.status()
        locker_watch.on_board_status(self.db, self.policy, BANK, status, self.clock.now)
        return status

    def on_hand(self, sku: str) -> tuple[int, int]:
        """(on-hand, reserved) of ``sku``."""
        row = (
            self.db.read()
            .execute("SELECT on_hand, reserved FROM stock WHERE sku = ?", (sku,))
            .fetchone()
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)


def open_pickup(event: dict[str, Any]) -> PickupSecrets:
    """Open the sealed pickup secrets of an ``order_accepted`` or ``pickup_code_reissued``."""
    return PickupSecrets.model_validate_json(open_sealed(DEV_SEAL_KEY, event["sealed_pickup"]))


def open_shop(db: StoreDB, **policy: Any) -> Shop:
    clock = Clock()
    with db.write() as conn:
        catalog.upsert(conn, [MUG, TEE, CAP], NOW)
        receive_stock(
            conn,
            ReceiptRequest(
                receipt_id="opening",
                lines=[{"sku": "MUG-1", "quantity": 5}, {"sku": "TEE-2", "quantity": 3}],
            ),
            NOW,
        )
        lockers.sync_layout(conn, [lockers.BoardLayout(BANK, dict(LAYOUT))], NOW)  # type: ignore[arg-type]
    sim = LockerBoardSimulator()
    board = LockerBoard(sim.path, timeout_s=0.2)
    full_policy = FulfilmentPolicy(store_id="store-a", **policy)
    desk = LockerDesk(db, full_policy, DoorOpener(DirectBoards({BANK: board})), clock)
    return Shop(db, sim, board, clock, full_policy, desk)
