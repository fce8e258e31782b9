"""The store database schema as ordered migrations, tracked by ``PRAGMA user_version``.

A newer agent opens an older store's database and applies only the missing steps, each in its
own transaction, so an upgrade on a store box never loses the sales recorded before it. Steps
are append-only: never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: catalog, ledger, outbox, sales and device tokens
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE product (
        sku TEXT PRIMARY KEY,
        gtin TEXT UNIQUE,
        name TEXT NOT NULL,
        price_cents INTEGER NOT NULL,
        category TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE stock (
        sku TEXT PRIMARY KEY,
        on_hand INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sku TEXT NOT NULL,
        delta INTEGER NOT NULL,
        reason TEXT NOT NULL,
        ref TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX ledger_by_sku ON ledger (sku, id);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE sync_position (stream TEXT PRIMARY KEY, position INTEGER NOT NULL);
    CREATE TABLE sale (
        sale_id TEXT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        at TEXT NOT NULL,
        response TEXT NOT NULL
    );
    CREATE TABLE sale_line (
        sale_id TEXT NOT NULL REFERENCES sale (sale_id),
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        unit_price_cents INTEGER NOT NULL,
        PRIMARY KEY (sale_id, line_no)
    );
    CREATE TABLE stock_movement (
        kind TEXT NOT NULL,
        movement_id TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        response TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (kind, movement_id)
    );
    CREATE TABLE device_token (
        token_hash TEXT PRIMARY KEY,
        device_id TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
    # 2: what the hub tells the store: safety stock, other stores' stock, rejected commands
    """
    CREATE TABLE safety_stock (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL);
    CREATE TABLE peer_stock (
        store_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        on_hand INTEGER NOT NULL,
        available INTEGER NOT NULL,
        as_of TEXT NOT NULL,
        PRIMARY KEY (store_id, sku)
    );
    CREATE INDEX peer_stock_by_sku ON peer_stock (sku);
    CREATE TABLE command_quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    ALTER TABLE stock ADD COLUMN needs_count INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: EAN-8 GTINs in GTIN-14 form like the others (scanners report GTIN-14)
    """
    UPDATE product SET gtin = substr('000000' || gtin, -14) WHERE length(gtin) = 8;
    """,
    # 4: online orders: reservations, allocations and their lines, locker compartments, pickup
    # and load credentials (keyed hashes only), wrong-code limits, the door audit, alerts
    """
    ALTER TABLE stock ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE reservation (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        state TEXT NOT NULL CHECK (state IN ('held', 'fulfilled', 'released', 'expired')),
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        closed_at TEXT
    );
    CREATE INDEX reservation_held ON reservation (expires_at) WHERE state = 'held';
    CREATE INDEX reservation_by_owner ON reservation (owner, state);
    CREATE TABLE online_order (
        allocation_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        method TEXT NOT NULL,
        customer_name TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        reserved_until TEXT,
        station TEXT,
        parcel_size TEXT,
        location_kind TEXT,
        location_id TEXT,
        ready_at TEXT,
        pickup_expires_at TEXT,
        reminded INTEGER NOT NULL DEFAULT 0,
        warned INTEGER NOT NULL DEFAULT 0,
        last_pick_message TEXT NOT NULL DEFAULT '',
        seal_to TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX online_order_by_order ON online_order (order_id);
    CREATE INDEX online_order_by_status ON online_order (status);
    CREATE TABLE order_line (
        allocation_id TEXT NOT NULL REFERENCES online_order (allocation_id),
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        picked INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (allocation_id, line_no)
    );
    CREATE TABLE compartment (
        compartment_id TEXT PRIMARY KEY,
        board_device TEXT NOT NULL,
        lock INTEGER NOT NULL,
        size TEXT NOT NULL,
        state TEXT NOT NULL,
        allocation_id TEXT,
        door_open_since TEXT,
        door_alerted INTEGER NOT NULL DEFAULT 0,
        unconfirmed INTEGER NOT NULL DEFAULT 0,
        in_service INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        UNIQUE (board_device, lock)
    );
    CREATE TABLE credential (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        allocation_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('pickup_code', 'pickup_qr', 'load_code')),
        digest TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'used', 'expired', 'revoked')),
        expires_at TEXT,
        created_at TEXT NOT NULL,
        closed_at TEXT
    );
    CREATE UNIQUE INDEX credential_active ON credential (digest) WHERE state = 'active';
    CREATE INDEX credential_by_digest ON credential (digest);
    CREATE INDEX credential_by_allocation ON credential (allocation_id, kind);
    CREATE TABLE attempt_limit (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        window_start TEXT NOT NULL,
        locked_until TEXT,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE door_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        compartment_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        actor TEXT NOT NULL,
        order_id TEXT,
        outcome TEXT NOT NULL,
        unlock_commands INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE store_alert (
        alert_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        subject TEXT NOT NULL,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX store_alert_by_time ON store_alert (at);
    """,
    # 5: returns and the kiosk: how sales were paid, what came back (the CHECK keeps two
    # tills from returning one line twice), the return policy, the other stores' places,
    # the kiosk's endless-aisle orders
    """
    ALTER TABLE sale ADD COLUMN receipt_code TEXT;
    ALTER TABLE sale ADD COLUMN loyalty_id TEXT;
    ALTER TABLE sale_line ADD COLUMN returned INTEGER NOT NULL DEFAULT 0
        CHECK (returned >= 0 AND returned <= quantity);
    CREATE UNIQUE INDEX sale_by_receipt ON sale (receipt_code);
    CREATE INDEX sale_by_loyalty ON sale (loyalty_id);
    CREATE TABLE sale_tender (
        sale_id TEXT NOT NULL REFERENCES sale (sale_id),
        tender_no INTEGER NOT NULL,
        kind TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        processor_token TEXT,
        card_hash TEXT,
        last4 TEXT,
        refunded_cents INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (sale_id, tender_no)
    );
    CREATE INDEX sale_tender_by_token ON sale_tender (processor_token);
    CREATE INDEX sale_tender_by_hash ON sale_tender (card_hash);
    CREATE TABLE return_record (
        return_id TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        terminal_id TEXT NOT NULL,
        purchase_id TEXT,
        origin TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        response TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE return_line (
        return_id TEXT NOT NULL REFERENCES return_record (return_id),
        line_no INTEGER NOT NULL,
        purchase_id TEXT,
        purchase_line_no INTEGER,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        condition TEXT NOT NULL,
        disposition TEXT NOT NULL,
        refund_cents INTEGER NOT NULL,
        PRIMARY KEY (return_id, line_no)
    );
    CREATE INDEX return_line_by_purchase ON return_line (purchase_id, sku);
    CREATE TABLE return_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        policy TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE peer_store (
        store_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        lat REAL,
        lon REAL
    );
    ALTER TABLE online_order ADD COLUMN inbound_from TEXT;
    ALTER TABLE online_order ADD COLUMN ship_address TEXT;
    CREATE TABLE kiosk_order (
        client_order_id TEXT PRIMARY KEY,
        order_id TEXT UNIQUE,
        device_id TEXT NOT NULL,
        request TEXT NOT NULL,
        event_seq INTEGER,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 6: what all other stores together can promise, per sku (the kiosk's "online" figure);
    # peer_stock holds the nearby stores only.
    """
    CREATE TABLE network_stock (
        sku TEXT PRIMARY KEY,
        available INTEGER NOT NULL,
        as_of TEXT NOT NULL
    );
    """,
)

LATEST = len(MIGRATIONS)


class NewerDatabase(RuntimeError):
    """The database was written by a newer agent; opening it could lose data, so refuse."""


def migrate(conn: sqlite3.Connection, upto: int = LATEST) -> int:
    """Bring the schema to version ``upto``; return the version found before migrating."""
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > LATEST:
        raise NewerDatabase(
            f"store database is at schema {found}, this agent knows up to {LATEST}: "
            "upgrade the agent instead of downgrading"
        )
    for version in range(found + 1, upto + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return int(found)
