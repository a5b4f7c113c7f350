"""An aiosqlite look-alike that runs each call on the calling thread (the event loop).

SQLAlchemy's aiosqlite dialect sends every cursor, execute, fetch and close through
aiosqlite's worker thread: a queue put, a thread wake-up and a call_soon_threadsafe back,
several times a statement. For a short transaction of indexed statements on a local file
those hops cost more than the statements. Given as `async_creator` to an async engine, this
keeps AsyncSession and every handler written against it unchanged while the statements run
inline. Only for short work under the process's write turn (Database.transaction(inline=True)),
with a short busy timeout: a file locked by another process fails fast instead of stalling
the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """The parts of aiosqlite.Connection SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # None once closed

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value

    def stop(self) -> None:
        self._conn.close()


def inline_creator(path: str, busy_ms: int):  # type: ignore[no-untyped-def]
    """An async_creator for create_async_engine: one plain sqlite3 connection to `path`."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout={busy_ms}")
        return InlineConnection(connection)

    return connect
