"""Mixins, column types, SQLite pragmas, the write-intent switch and the bulk helpers.

The declarative base and naming convention live in `portal.core.base`, below
`portal.extensions` (which builds `db` on it); they are re-exported here.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.base import NAMING_CONVENTION as NAMING_CONVENTION
from portal.core.base import Base as Base
from portal.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# 64-bit ids where rows are counted in millions (SQLite needs INTEGER for its rowid alias).
BigId = BigInteger().with_variant(Integer, "sqlite")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def enum_check(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, WAL for concurrent readers, wait instead of failing on locks,
    and let SQLAlchemy own transactions so SAVEPOINT works (pysqlite's own BEGIN handling is off).
    """
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


# Whether the current unit of work will write: requests other than GET/HEAD/OPTIONS, jobs,
# and code that says so with `writing()`. Only SQLite cares (see _sqlite_begin).
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "portal_write_intent", default=False
)


@contextmanager
def writing() -> Iterator[None]:
    """Declare that the transaction about to start will write (SQLite: BEGIN IMMEDIATE)."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def set_write_intent(value: bool) -> None:
    _write_intent.set(value)


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    # A writing transaction takes SQLite's write lock when it starts (IMMEDIATE), so concurrent
    # writers queue behind busy_timeout instead of failing with "database is locked" when one
    # that has already read tries to write. Reads stay DEFERRED and run beside a writer (WAL).
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def init_app(app) -> None:
    @app.before_request
    def declare_write_intent() -> None:
        from flask import request

        set_write_intent(request.method not in ("GET", "HEAD", "OPTIONS"))


def append_only_ddl(table: str) -> dict[str, tuple[str, ...]]:
    """Trigger statements, per dialect, that make the database refuse UPDATE and DELETE on a
    ledger table whatever the client (psql, a script). Migrations run the same statements."""
    return {
        "postgresql": (
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ),
        "sqlite": tuple(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for verb in ("UPDATE", "DELETE")
        ),
    }


def make_append_only(model: type) -> None:
    """A ledger: the ORM refuses to update or delete its rows, and so does the database (the
    triggers cover databases made by create_all; migrations create the same ones)."""
    from sqlalchemy import DDL

    table = model.__table__  # type: ignore[attr-defined]

    def refuse(mapper: Any, connection: Any, target: Any) -> None:
        raise RuntimeError(f"{table.name} is append-only: write a correcting entry instead")

    event.listen(model, "before_update", refuse)
    event.listen(model, "before_delete", refuse)
    for dialect, statements in append_only_ddl(table.name).items():
        for statement in statements:
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))


def in_ids(column: Any, ids: Iterable[int]) -> Any:
    """`column IN (ids)` for long id lists. PostgreSQL gets one array parameter (`= ANY(...)`):
    a catalog page asks about 750 SKUs, and rendering and binding 750 separate parameters cost
    more than the query itself. SQLite keeps the plain IN."""
    from sqlalchemy import any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY

    values = list(ids)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(BigInteger)))
    return column.in_(values)


def bulk_insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of one model at once, inside the session's transaction: COPY on
    PostgreSQL (a 600,000-SKU import wrote 12,500 rows/s with multi-row INSERTs), the ORM's bulk
    INSERT elsewhere. Every row has the same keys; values go through psycopg's own escaping."""
    from sqlalchemy import insert

    if not rows:
        return
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    from psycopg.types.json import Json
    from sqlalchemy.types import JSON

    session.flush()
    columns = list(rows[0])
    table = model.__table__
    as_json = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a checked-out pooled connection always has its driver connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row([Json(row[c]) if c in as_json else row[c] for c in columns])
