"""Group commit for sign-ups. Sign-ups that arrive while a write is under way are written
together: one transaction, one multi-row insert of members and one of their events. If a
group hits a constraint (an address already a member), its sign-ups are written one by one,
so that only the colliding one fails."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.db.engine import Database
from services.common.outbox import OUTBOX_INSERT
from services.membership.adapters.repository import INSERT_MEMBER

Pending = tuple[dict[str, Any], dict[str, Any], asyncio.Future[None]]


class SignupWriter:
    def __init__(self, database: Database, max_group: int = 200) -> None:
        self.database = database
        self.max_group = max_group
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, member: dict[str, Any], event: dict[str, Any]) -> None:
        """Returns once the member and the event are committed; raises what the insert
        raised (IntegrityError for a second sign-up of the same address)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((member, event, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            try:
                await self._insert([m for m, _, _ in group], [e for _, e, _ in group])
            except Exception:
                for member, event, done in group:
                    await self._write_one(member, event, done)
                continue
            for _, _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _write_one(
        self, member: dict[str, Any], event: dict[str, Any], done: asyncio.Future[None]
    ) -> None:
        try:
            await self._insert([member], [event])
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def _insert(self, members: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        async with self.database.transaction() as session:
            await session.execute(INSERT_MEMBER, members)
            await session.execute(OUTBOX_INSERT, events)
