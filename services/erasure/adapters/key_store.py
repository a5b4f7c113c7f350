"""The keyring's table: wrapped keys by subject hash, and tombstones once shredded (each with
its erasure ledger entry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.erasure.adapters.ledger_repository import LedgerRepository
from services.erasure.adapters.orm import data_keys
from services.erasure.domain.ledger import LedgerEntry


class KeyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def find(self, subject_hash: str) -> Row | None:
        async with self.database.sessions() as session:
            return (
                await session.execute(
                    select(data_keys).where(data_keys.c.subject_hash == subject_hash)
                )
            ).first()

    async def find_many(self, subject_hashes: list[str]) -> list[Row]:
        async with self.database.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(data_keys).where(data_keys.c.subject_hash.in_(subject_hashes))
                    )
                ).all()
            )

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
    ) -> datetime:
        """Forgets the key and appends its ledger entry in one transaction: a key is never
        shredded without the entry that lets a replay shred it again after a restore."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            await session.execute(
                update(data_keys)
                .where(data_keys.c.subject_hash == subject_hash)
                .values(wrapped_key=None, shredded_at=now)
            )
            await LedgerRepository(session).append(ledger_entry(now))
        if self.database.is_sqlite:
            # Push the change out of the WAL so the old page is overwritten, not kept aside.
            async with self.database.engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return now
