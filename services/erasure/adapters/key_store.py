"""The keyring's table: wrapped keys by subject hash, and tombstones once shredded (each with
its erasure ledger entry)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.erasure.adapters.ledger_repository import LedgerRepository
from services.erasure.adapters.orm import data_keys, erasure_ledger
from services.erasure.domain.ledger import LedgerEntry

_FIND = select(data_keys).where(data_keys.c.subject_hash == bindparam("b_hash"))


class KeyStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        # WAL checkpoints after shredding: numbered as asked for and as done, so that shreds
        # that commit while one runs share the next one instead of each running its own.
        self._checkpoints_asked = 0
        self._checkpoints_done = 0
        self._checkpointing = asyncio.Lock()

    async def find(self, subject_hash: str) -> Row | None:
        rows = await self.database.read(_FIND, {"b_hash": subject_hash})
        return rows[0] if rows else None

    async def find_many(self, subject_hashes: list[str]) -> list[Row]:
        async with self.database.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(data_keys).where(data_keys.c.subject_hash.in_(subject_hashes))
                    )
                ).all()
            )

    async def shredded_in(self, org_id: str, subject_key: str, scope: str) -> bool:
        """Whether the ledger records this subject's key as shredded under `scope`."""
        async with self.database.sessions() as session:
            found = await session.scalar(
                select(erasure_ledger.c.seq).where(
                    erasure_ledger.c.org_id == org_id,
                    erasure_ledger.c.subject_key == subject_key,
                    erasure_ledger.c.scope == scope,
                )
            )
        return found is not None

    async def insert_if_absent(
        self, subject_hash: str, org_id: str, wrapped: bytes
    ) -> tuple[Row, bool]:
        """Racing creators all end up with the one key stored first; True for that one."""
        insert = sqlite_insert if self.database.is_sqlite else pg_insert
        async with self.database.transaction() as session:
            result = await session.execute(
                insert(data_keys)
                .values(
                    subject_hash=subject_hash,
                    org_id=org_id,
                    wrapped_key=wrapped,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["subject_hash"])
            )
            row = (
                await session.execute(
                    select(data_keys).where(data_keys.c.subject_hash == subject_hash)
                )
            ).one()
            return row, bool(result.rowcount)

    async def insert_many(self, org_id: str, wrapped_by_hash: dict[str, bytes]) -> datetime:
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            await session.execute(
                data_keys.insert(),
                [
                    {"subject_hash": h, "org_id": org_id, "wrapped_key": w, "created_at": now}
                    for h, w in wrapped_by_hash.items()
                ],
            )
        return now

    async def shred(
        self, subject_hash: str, ledger_entry: Callable[[datetime], LedgerEntry]
    ) -> datetime | None:
        """Forgets the key and appends its ledger entry in one transaction: a key is never
        shredded without the entry that lets a replay shred it again after a restore. None
        when it was shredded already (another replica got there first): one entry only."""
        now = datetime.now(UTC)

        async def forget(session: AsyncSession) -> bool:
            result = await session.execute(
                update(data_keys)
                .where(data_keys.c.subject_hash == subject_hash, data_keys.c.shredded_at.is_(None))
                .values(wrapped_key=None, shredded_at=now)
            )
            if result.rowcount:
                await LedgerRepository(session).append(ledger_entry(now))
            return bool(result.rowcount)

        try:  # on a SQLite file, on the loop; if the file was locked a moment, in a session
            async with self.database.transaction(inline=True) as session:
                shredded = await forget(session)
        except OperationalError:
            if not self.database.is_sqlite:
                raise
            async with self.database.transaction() as session:
                shredded = await forget(session)
        if not shredded:
            return None
        if self.database.is_sqlite:
            await self._checkpoint()
        return now

    async def _checkpoint(self) -> None:
        """Pushes the committed changes out of the WAL, so the key's old page is overwritten,
        not kept aside; returns once a checkpoint that began after the caller's commit ran."""
        self._checkpoints_asked += 1
        mine = self._checkpoints_asked
        async with self._checkpointing:
            if self._checkpoints_done >= mine:
                return  # one that began after this commit covered it
            covers = self._checkpoints_asked
            async with self.database.engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            self._checkpoints_done = covers
