"""Bulk loading into PostgreSQL for generated data: COPY in text format, secondary indexes
rebuilt once after the load, sequences moved past the loaded ids.

Only `flask seed scale` uses it. Rows go straight to the tables, so whoever calls it keeps the
invariants the services keep (levels equal to their ledger sums, one account per link, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from portal.extensions import db

if TYPE_CHECKING:
    import psycopg

CHUNK = 20_000  # rows per write to the COPY stream


def text_value(value: Any) -> str:
    """One value in COPY's text format. Generated text never holds tabs, newlines or
    backslashes, so only NULL and booleans need care."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def row_line(values: Sequence[Any]) -> str:
    return "\t".join(map(text_value, values)) + "\n"


class BulkLoader:
    """One connection, one transaction: a load that fails leaves the database as it was."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        raw = connection.connection.driver_connection
        if raw is None:
            raise RuntimeError("the bulk loader needs an open connection")
        self.raw: psycopg.Connection[Any] = raw  # psycopg 3
        self.counts: dict[str, int] = {}
        self._dropped: list[tuple[str, str]] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.raw.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def prepare(self) -> bool:
        """Session settings for a fast load. Returns whether foreign-key triggers are off (only a
        superuser may turn them off; otherwise every row is checked, which is slower but fine)."""
        self.execute("SET synchronous_commit = off")
        self.execute("SET maintenance_work_mem = '1GB'")
        superuser = self.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if superuser and superuser[0][0]:
            self.execute("SET session_replication_role = replica")
            return True
        return False

    def truncate(self, tables: Iterable[str]) -> None:
        names = ", ".join(tables)
        self.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")

    def drop_secondary_indexes(self, tables: Sequence[str]) -> None:
        """Drop indexes that back no constraint; `restore_indexes` builds them again after the
        load (one sort per index instead of millions of inserts into it)."""
        rows = self.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [list(tables)],
        )
        for name, definition in rows:
            self.execute(f'DROP INDEX "{name}"')
            self._dropped.append((name, definition))

    def restore_indexes(self) -> None:
        for _name, definition in self._dropped:
            self.execute(definition)
        self._dropped.clear()

    def copy(self, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
        """COPY pre-formatted text lines (see `row_line`) into `table`."""
        count = 0
        chunk: list[str] = []
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.raw.cursor() as cur, cur.copy(statement) as stream:
            for line in lines:
                chunk.append(line)
                if len(chunk) >= CHUNK:
                    stream.write("".join(chunk))
                    count += len(chunk)
                    chunk.clear()
            if chunk:
                stream.write("".join(chunk))
                count += len(chunk)
        self.counts[table] = self.counts.get(table, 0) + count
        return count

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        return self.copy(table, columns, (row_line(r) for r in rows))

    def reset_sequences(self) -> None:
        """Move every serial id past the largest loaded id, so the portal's own inserts go on
        from there."""
        for table in db.metadata.sorted_tables:
            if "id" not in table.c or not table.c.id.primary_key:
                continue
            sequence = self.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
            if not sequence or sequence[0][0] is None:
                continue
            self.execute(
                f"SELECT setval(%s, COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)",
                [sequence[0][0]],
            )
