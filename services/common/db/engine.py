"""SQLAlchemy 2 async engine and sessions: SQLite by default, PostgreSQL by DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, create_engine, event, text
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from services.common.db.inline_sqlite import inline_creator


def _tune_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout queues writers instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left readable in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


INLINE_BUSY_MS = 50
INLINE_CHECKPOINT_PAGES = 20_000


def _tune_inline_reader(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
    cursor.close()


def _tune_inline_writer(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    _tune_sqlite(dbapi_connection, _record)  # the same durability and secure_delete
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
    # Checkpoints (copying the WAL into the file, with its fsyncs) are left to the pooled
    # connections' commits, on their threads (the relay's, every few ms under load), not to
    # the event loop; this one checkpoints only as a backstop, should the WAL grow large.
    cursor.execute(f"PRAGMA wal_autocheckpoint={INLINE_CHECKPOINT_PAGES}")
    cursor.close()


def _locked(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


T = TypeVar("T")

ALL_TENANTS = "*"
SET_TENANT = text("SELECT set_config('app.org_id', :org, true)")


class Database:
    def __init__(self, url: str, tenant: Callable[[], str] = lambda: ALL_TENANTS) -> None:
        """`tenant` names the org the current work is for (ALL_TENANTS for the service's own
        work); on PostgreSQL every transaction tells row-level security about it."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, int] = {"pool_size": 10, "max_overflow": 10}
        if self.is_sqlite:
            # The default 5 + 10 overflow closes every overflow connection on return, so under
            # load each burst reopened the file, its thread and its pragmas. Same 15 at most,
            # kept open. (An in-memory database gets SQLAlchemy's single-connection pool.)
            on_disk = self.url.database not in (None, "", ":memory:")
            # Last in, first out: the few connections a steady load needs stay warm, instead
            # of each call waking another idle connection thread.
            kwargs = {"pool_size": 15, "max_overflow": 0, "pool_use_lifo": True} if on_disk else {}
        # A server connection can go stale; a SQLite file cannot, so no ping on every checkout.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_pre_ping=not self.is_sqlite, hide_parameters=True, **kwargs
        )
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        session_class = type("TenantSession", (Session,), {})
        if not self.is_sqlite:

            def scope_to_tenant(_session: Session, _tx: object, connection: Connection) -> None:
                connection.execute(SET_TENANT, {"org": tenant()})

            event.listen(session_class, "after_begin", scope_to_tenant)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._inline: Engine | None = None
        self._inline_writer: Engine | None = None
        self._inline_engine: AsyncEngine | None = None
        self._inline_sessions: async_sessionmaker[AsyncSession] | None = None
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            # One plain connection for short reads on the event loop itself (read_inline).
            self._inline = create_engine(
                self.url.set(drivername="sqlite"),
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                hide_parameters=True,
            )
            event.listen(self._inline, "connect", _tune_inline_reader)
            # And one for short write transactions on the event loop (write).
            self._inline_writer = create_engine(
                self.url.set(drivername="sqlite"),
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                hide_parameters=True,
            )
            event.listen(self._inline_writer, "connect", _tune_inline_writer)
            # And the same as an async engine for transactions written against AsyncSession
            # (transaction(inline=True)): its statements run on the loop as well.
            self._inline_engine = create_async_engine(
                url,
                async_creator=inline_creator(self.url.database, INLINE_BUSY_MS),
                poolclass=StaticPool,
                hide_parameters=True,
            )
            event.listen(self._inline_engine.sync_engine, "connect", _tune_inline_writer)
            self._inline_sessions = async_sessionmaker(
                self._inline_engine, expire_on_commit=False, sync_session_class=session_class
            )
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in
        # its busy handler (up to 100 ms a try). Queueing our own writers here instead keeps
        # the loop busy with work, not sleeps. One process owns each service's file.
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self, inline: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any error. Keep slow I/O
        outside it: on SQLite it holds the process's write turn.

        `inline`: on a SQLite file, the statements run on the event loop itself instead of
        a connection thread (see inline_sqlite), for short batches of indexed statements.
        The file locked by another process for INLINE_BUSY_MS raises OperationalError; the
        caller may then try again without `inline`."""
        if self._sqlite_writer is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        sessions = self._inline_sessions if inline and self._inline_sessions else self.sessions
        async with self._sqlite_writer, sessions() as session, session.begin():
            yield session

    async def in_transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` in `transaction(inline=True)`; if the SQLite file was locked for a
        moment (another process writing, a WAL checkpoint), rolled back and run once more in
        an ordinary transaction, which waits for it. `work` must be safe to run again."""
        try:
            async with self.transaction(inline=True) as session:
                return await work(session)
        except OperationalError as exc:
            if self._inline_sessions is None or not _locked(exc):
                raise
        async with self.transaction() as session:
            return await work(session)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """A short write transaction of plain statements, `work(connection)`: commits on
        success, rolls back on any error. On a SQLite file it runs on the calling thread (the
        event loop), in this process's write turn: a few inserts cost far less than the
        thread hops of an async session, and the commit is as durable as a session's (same
        pragmas). If the file stays locked for INLINE_BUSY_MS (another process writing), it
        runs in a session instead, as it does on PostgreSQL."""
        if self._inline_writer is not None and self._sqlite_writer is not None:
            async with self._sqlite_writer:
                try:
                    with self._inline_writer.begin() as connection:
                        return work(connection)
                except OperationalError as exc:
                    if not _locked(exc):
                        raise
        async with self.transaction() as session:
            return await session.run_sync(lambda sync_session: work(sync_session.connection()))

    @property
    def reads_inline(self) -> bool:
        return self._inline is not None

    def read_inline(self, statement: Executable, params: dict[str, Any]) -> list[Row]:
        """SQLite files only: a short read by key, run on the calling thread. A WAL reader
        does not wait for the writer, and an indexed read of a few pages costs far less than
        the thread hops of an async session. Raises OperationalError if the file stays
        locked for INLINE_BUSY_MS (it never stalls the loop longer); callers then read in a
        session instead."""
        if self._inline is None:
            raise RuntimeError("read_inline is for SQLite files")
        with self._inline.connect() as connection:
            return list(connection.execute(statement, params).all())

    async def read(self, statement: Executable, params: dict[str, Any]) -> list[Row]:
        """A short read by key: inline on a SQLite file (read_inline), in a session if the
        file stayed locked or on PostgreSQL (as the current tenant, if any)."""
        if self._inline is not None:
            try:
                return self.read_inline(statement, params)
            except OperationalError:
                pass  # the file stayed locked: wait in a session
        async with self.sessions() as session:
            return list((await session.execute(statement, params)).all())

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self._inline is not None:
            self._inline.dispose()
        if self._inline_writer is not None:
            self._inline_writer.dispose()
        if self._inline_engine is not None:
            await self._inline_engine.dispose()
