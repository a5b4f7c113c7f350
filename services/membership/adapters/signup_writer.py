"""Group commit for sign-ups. Sign-ups that arrive while a write is under way are written
together: one transaction, one multi-row insert each of members, their events, their audit
entries and their consents. If a group hits a constraint (an address already a member), its
sign-ups are written one by one, so that only the colliding one fails."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from services.common.db.engine import Database
from services.common.outbox import OUTBOX_INSERT
from services.membership.adapters.audit import INSERT_AUDIT
from services.membership.adapters.consents import INSERT_CONSENT
from services.membership.adapters.repository import INSERT_MEMBER


@dataclass(frozen=True)
class Signup:
    member: dict[str, Any]
    events: list[dict[str, Any]]
    audit_entry: dict[str, Any]
    consents: list[dict[str, Any]] = field(default_factory=list)


Pending = tuple[Signup, asyncio.Future[None]]


class SignupWriter:
    def __init__(self, database: Database, max_group: int = 200) -> None:
        self.database = database
        self.max_group = max_group
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, signup: Signup) -> None:
        """Returns once all its rows are committed; raises what the insert raised
        (IntegrityError for a second sign-up of the same address)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((signup, done))
        if self._flusher is None or self._flusher.done():
            # A fresh context: the group holds many orgs' sign-ups, so it must not run as the
            # org of whichever caller happened to start it (row-level security would refuse).
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        await done

    async def _flush(self) -> None:
        while self._pending:
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            try:
                await self._write_group(group)
            except BaseException as exc:
                # Whatever happened, no caller may be left waiting.
                for _, done in group:
                    _settle(done, exc)
                if not isinstance(exc, Exception):
                    raise

    async def _write_group(self, group: list[Pending]) -> None:
        try:
            await self._insert([rows for rows, _ in group])
        except Exception:
            for rows, done in group:
                try:
                    await self._insert([rows])
                except Exception as exc:
                    _settle(done, exc)
                else:
                    _settle(done)
            return
        for _, done in group:
            _settle(done)

    async def _insert(self, group: list[Signup]) -> None:
        await self.database.write(functools.partial(_insert_rows, group))


def _insert_rows(group: list[Signup], connection: Connection) -> None:
    connection.execute(INSERT_MEMBER, [signup.member for signup in group])
    connection.execute(OUTBOX_INSERT, [e for signup in group for e in signup.events])
    connection.execute(INSERT_AUDIT, [signup.audit_entry for signup in group])
    consents = [c for signup in group for c in signup.consents]
    if consents:
        connection.execute(INSERT_CONSENT, consents)


def _settle(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    if done.done():  # the caller gave up (deadline, cancellation); the write stands
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
