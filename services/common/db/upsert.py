"""INSERT ... ON CONFLICT for both databases we run on (SQLite and PostgreSQL share the
syntax, but SQLAlchemy builds it per dialect)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table, values: dict[str, Any]):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(values)


async def insert_ignore(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Inserts the row unless one with the same `keys` exists; True if it was inserted."""
    result: Result[Any] = await session.execute(
        _insert(session, table, values).on_conflict_do_nothing(index_elements=list(keys))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def upsert(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    keys: Sequence[str],
    changes: dict[str, Any],
) -> None:
    """Inserts the row, or updates `changes` on the row with the same `keys`."""
    await session.execute(
        _insert(session, table, values).on_conflict_do_update(
            index_elements=list(keys), set_=changes
        )
    )
