"""INSERT ... ON CONFLICT for both databases we run on (SQLite and PostgreSQL share the
syntax, but SQLAlchemy builds it per dialect).

Statements are built once per shape (dialect, table, conflict keys, columns) with the values
bound at execution: building and hashing a statement each call cost more than running it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession

SET_PREFIX = "set__"  # names the bound values of the update part


def _insert(dialect: str, table: Table):  # type: ignore[no-untyped-def]
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


@functools.cache
def _ignore_statement(dialect: str, table: Table, keys: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))


@functools.cache
def _upsert_statement(  # type: ignore[no-untyped-def]
    dialect: str, table: Table, keys: tuple[str, ...], changed: tuple[str, ...]
):
    return _insert(dialect, table).on_conflict_do_update(
        index_elements=list(keys),
        set_={c: bindparam(SET_PREFIX + c, type_=table.c[c].type) for c in changed},
    )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def insert_ignore(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Inserts the row unless one with the same `keys` exists; True if it was inserted."""
    result: Result[Any] = await session.execute(
        _ignore_statement(_dialect(session), table, tuple(keys)), values
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
    statement = _upsert_statement(_dialect(session), table, tuple(keys), tuple(sorted(changes)))
    await session.execute(statement, {**values, **{SET_PREFIX + c: v for c, v in changes.items()}})
