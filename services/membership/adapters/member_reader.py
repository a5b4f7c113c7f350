"""Read coalescing for single members, the mirror of the sign-up group commit: reads that
arrive together are answered by one query per org. Under load a GetMember then costs a share
of one query instead of a session of its own, and the gRPC answers of a group go out in the
same turn of the event loop.

When reads come in quick succession (less than BUSY_GAP_S apart), a group lingers LINGER_S
for more to join, as a Kafka producer lingers; a lone read goes at once. On SQLite the query
runs inline (see Database.read_inline); on PostgreSQL in a session, as the org, so that
row-level security holds."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import defaultdict

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import OperationalError

from services.common.db.engine import Database
from services.common.grpc.auth import org_context
from services.common.logging import get_logger
from services.membership.adapters.orm import members

log = get_logger(__name__)
LINGER_S = 0.002
BUSY_GAP_S = 0.005


@functools.cache
def _by_ids(size: int) -> Select:
    """One statement per group size (powers of two), each compiled once and cached: an
    expanding IN would be rewritten on every execution."""
    return select(members).where(
        members.c.org_id == bindparam("org_id"),
        members.c.id.in_([bindparam(f"id{i}") for i in range(size)]),
    )


def _query(org_id: str, member_ids: list[str]) -> tuple[Select, dict[str, str]]:
    size = 1 << (len(member_ids) - 1).bit_length()
    padded = member_ids + member_ids[-1:] * (size - len(member_ids))
    return _by_ids(size), {"org_id": org_id, **{f"id{i}": m for i, m in enumerate(padded)}}


Waiting = tuple[str, str, asyncio.Future[Row | None]]  # org id, member id, answer


class MemberReader:
    def __init__(
        self, database: Database, max_group: int = 500, linger_s: float = LINGER_S
    ) -> None:
        self.database = database
        self.max_group = max_group
        self.linger_s = linger_s
        self._pending: list[Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self._busy = False
        self._last_read_at = 0.0

    async def get(self, org_id: str, member_id: str) -> Row | None:
        """The member's row, or None if the org has no such member."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Reads coming in quick succession: worth waiting a moment to answer them together.
        self._busy = now - self._last_read_at < BUSY_GAP_S
        self._last_read_at = now
        found: asyncio.Future[Row | None] = loop.create_future()
        self._pending.append((org_id, member_id, found))
        if self._flusher is None or self._flusher.done():
            # Not in the caller's context: the group serves many callers (and orgs).
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        return await found

    async def _flush(self) -> None:
        await asyncio.sleep(self.linger_s if self._busy else 0)
        while self._pending:
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            by_org: dict[str, list[Waiting]] = defaultdict(list)
            for waiting in group:
                by_org[waiting[0]].append(waiting)
            for org_id, waiters in by_org.items():
                try:
                    rows = await self._read(org_id, sorted({m for _, m, _ in waiters}))
                except BaseException as exc:
                    for _, _, found in waiters:
                        if not found.done():
                            found.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, member_id, found in waiters:
                    if not found.done():  # the caller may have given up
                        found.set_result(rows.get(member_id))

    async def _read(self, org_id: str, member_ids: list[str]) -> dict[str, Row]:
        statement, params = _query(org_id, member_ids)
        if self.database.reads_inline:
            try:
                return {row.id: row for row in self.database.read_inline(statement, params)}
            except OperationalError:
                log.warning("inline_read_busy", rows=len(member_ids))  # wait in a session
        # As the org, so that row-level security holds on PostgreSQL here too.
        return await asyncio.create_task(
            self._read_in_session(statement, params), context=org_context(org_id)
        )

    async def _read_in_session(self, statement: Select, params: dict[str, str]) -> dict[str, Row]:
        async with self.database.sessions() as session:
            result = await session.execute(statement, params)
            return {row.id: row for row in result.all()}
