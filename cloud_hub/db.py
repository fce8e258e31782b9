"""Table models and the engine factory for the hub's database.

SQLite (one file, WAL, ``synchronous=FULL``) is the default; PostgreSQL is used when the URL says
``postgresql+psycopg://``. The models are SQLModel tables so the schema lives in one readable
place, but the hot paths (ingest, outbox, stock lookups) speak SQLAlchemy Core through
``table(Model)``: ORM object loading was measured ~18x slower for batch inserts on this machine.

Timestamps are stored in UTC and always come back timezone-aware, on both databases, because
only aware timestamps cross the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Engine,
    Index,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the hub stores only timezone-aware timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_field(*, nullable: bool = False, index: bool = False) -> Any:
    """A ``UtcDateTime`` column for a SQLModel table."""
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class Store(SQLModel, table=True):
    """One row per store: its session state (birth/death) and its stream positions."""

    __tablename__ = "store"

    store_id: str = Field(primary_key=True, max_length=32)
    online: bool = False
    bdseq: int = Field(default=0, sa_type=BigInteger)
    version: str = ""
    first_seen: datetime = utc_field()
    last_seen: datetime = utc_field()
    backlog: int = Field(default=0, sa_type=BigInteger)
    oldest_unsent_age_s: float = 0.0
    #: applied_at - event.at of the last applied event: how far behind the hub's view runs.
    sync_lag_s: float | None = None
    last_event_at: datetime | None = utc_field(nullable=True)
    events_applied_upto: int = Field(default=0, sa_type=BigInteger)
    commands_acked_upto: int = Field(default=0, sa_type=BigInteger)
    commands_applied_upto: int = Field(default=0, sa_type=BigInteger)
    #: Set when the store sent a different event under a sequence already applied (its
    #: database was replaced or restored): nothing more is applied or acked until it rebases.
    stream_conflict: str | None = Field(default=None, sa_type=Text)
    #: The store's event stream epoch (a store database's identity), and the epoch that
    #: caused the current conflict: it stays refused until a new epoch continues the stream.
    events_epoch: str | None = Field(default=None, max_length=32)
    #: The devices' health from the store's last birth or status (JSON list of DeviceHealth).
    devices: str = Field(default="[]", sa_type=Text)
    conflict_epoch: str | None = Field(default=None, max_length=32)


class StoreStock(SQLModel, table=True):
    """The hub's derived on-hand per (store, sku): the sum of that store's deltas."""

    __tablename__ = "store_stock"
    __table_args__ = (Index("ix_store_stock_sku", "sku"),)

    store_id: str = Field(primary_key=True, max_length=32)
    sku: str = Field(primary_key=True, max_length=64)
    on_hand: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = utc_field()


class StoreEvent(SQLModel, table=True):
    """Every applied event; the primary key is the inbox, so a second apply is refused."""

    __tablename__ = "store_event"

    store_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    type: str = Field(max_length=64)
    at: datetime = utc_field()
    payload: str = Field(sa_type=Text)


class Product(SQLModel, table=True):
    """The hub's catalog, the source of ``CatalogUpsert`` commands."""

    __tablename__ = "product"

    sku: str = Field(primary_key=True, max_length=64)
    gtin: str | None = Field(default=None, max_length=14)
    name: str = Field(max_length=200)
    price_cents: int = Field(sa_type=BigInteger)
    category: str = Field(default="general", max_length=64)
    updated_at: datetime = utc_field()


class SafetyStock(SQLModel, table=True):
    """Units per (store, sku) held back from available-to-promise."""

    __tablename__ = "safety_stock"

    store_id: str = Field(primary_key=True, max_length=32)
    sku: str = Field(primary_key=True, max_length=64)
    quantity: int = 0
    updated_at: datetime = utc_field()


class CommandStream(SQLModel, table=True):
    """The last command sequence allocated per store (allocated with UPDATE ... RETURNING)."""

    __tablename__ = "command_stream"

    store_id: str = Field(primary_key=True, max_length=32)
    last_seq: int = Field(default=0, sa_type=BigInteger)


class CommandOutbox(SQLModel, table=True):
    """Commands not yet acknowledged by their store, serialised once at enqueue time."""

    __tablename__ = "command_outbox"

    store_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    type: str = Field(max_length=64)
    payload: str = Field(sa_type=Text)
    created_at: datetime = utc_field()


class Quarantine(SQLModel, table=True):
    """A message or item that could not be applied, with the reason; the stream moved on."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    store_id: str | None = Field(default=None, max_length=64, index=True)
    topic: str = Field(sa_type=Text)
    seq: int | None = Field(default=None, sa_type=BigInteger)
    reason: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    received_at: datetime = utc_field(index=True)
    replayed_at: datetime | None = utc_field(nullable=True)


#: Execution option for connections that only read (a deferred BEGIN on SQLite).
READ_ONLY = "storelink_read_only"


def table(model: type[SQLModel]) -> Table:
    """The Core ``Table`` of a model, for insert()/update() statements on hot paths."""
    tbl = model.__table__  # type: ignore[attr-defined]
    assert isinstance(tbl, Table)
    return tbl


def bind_datetime(conn: Connection, value: datetime) -> datetime | str:
    """``value`` as the driver wants it for a ``UtcDateTime`` column, for driver-level batches.

    Matches what ``UtcDateTime`` and SQLAlchemy's SQLite DateTime write, so rows written either
    way read back the same.
    """
    utc = value.astimezone(UTC)
    if conn.dialect.name == "sqlite":
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return utc


def executemany(
    conn: Connection,
    tbl: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str = "",
) -> None:
    """INSERT many rows through the driver's own executemany, skipping SQLAlchemy's per-row
    parameter processing (the inbox insert of a 500-event batch spent most of its time there).

    Values must already be in driver form (see ``bind_datetime``). ``on_conflict`` is an
    ``ON CONFLICT ...`` clause, whose syntax SQLite and PostgreSQL share. Table, column and
    clause texts come from this package's own code, never from input.
    """
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join(mark for _ in columns)
    sql = f"INSERT INTO {tbl.name} ({', '.join(columns)}) VALUES ({marks}) {on_conflict}"  # noqa: S608
    conn.exec_driver_sql(sql, rows)


def is_sqlite_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, ``synchronous=FULL`` and a busy timeout."""
    if not is_sqlite_url(url):
        return create_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; take it over
    # (the SQLAlchemy-documented recipe) and emit BEGIN ourselves in _sqlite_on_begin.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
    # can fail with SQLITE_BUSY when another writer committed in between, which busy_timeout
    # does not cure. Pure readers ask for a deferred BEGIN (execution option READ_ONLY).
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_schema(engine: Engine) -> None:
    """Create missing tables (the hub's tables only)."""
    from cloud_hub.counts import COUNT_TABLES
    from cloud_hub.nearby import NEARBY_TABLES
    from cloud_hub.orders.tables import ORDER_TABLES  # they import this module
    from cloud_hub.returns.tables import RETURN_TABLES
    from cloud_hub.users import USER_TABLES

    models: tuple[type[SQLModel], ...] = (
        Store,
        StoreStock,
        StoreEvent,
        Product,
        SafetyStock,
        CommandStream,
        CommandOutbox,
        Quarantine,
        *ORDER_TABLES,
        *RETURN_TABLES,
        *USER_TABLES,
        *COUNT_TABLES,
        *NEARBY_TABLES,
    )
    tables = [table(m) for m in models]
    SQLModel.metadata.create_all(engine, tables=tables)


def upsert(conn: Connection, tbl: Table) -> Any:
    """A dialect insert with ``on_conflict_do_*`` for ``tbl`` (SQLite and PostgreSQL alike)."""
    name = conn.dialect.name
    stmt: Insert
    if name == "sqlite":
        stmt = sqlite.insert(tbl)
    elif name == "postgresql":
        stmt = postgresql.insert(tbl)
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database dialect {name!r}")
    return stmt
