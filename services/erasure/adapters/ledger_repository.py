"""The erasure ledger's tables (the entries, and the stores' tombstones): rows are appended,
and read back whole by a replay; nothing here updates or deletes one."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from privacy.v1 import data_subject_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.db.upsert import insert_ignore
from services.erasure.adapters.orm import erasure_ledger, ledger_tombstones
from services.erasure.domain.ledger import LedgerEntry


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, entry: LedgerEntry) -> None:
        await self.session.execute(erasure_ledger.insert().values(**entry.row()))

    async def subject_keys_by_org(self) -> tuple[int, dict[str, set[str]]]:
        """How many entries there are, and each org's distinct subject keys."""
        rows = (
            await self.session.execute(
                select(erasure_ledger.c.org_id, erasure_ledger.c.subject_key)
            )
        ).all()
        by_org: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            by_org[row.org_id].add(row.subject_key)
        return len(rows), dict(by_org)

    async def record_tombstones(
        self, org_id: str, store: str, tombstones: list[str], at: datetime
    ) -> None:
        for tombstone in tombstones:
            await insert_ignore(
                self.session,
                ledger_tombstones,
                {"org_id": org_id, "store": store, "tombstone": tombstone, "recorded_at": at},
                ("org_id", "store", "tombstone"),
            )

    async def tombstones_by_org(self, store: str) -> dict[str, list[str]]:
        """Each org's tombstones of `store`, in order."""
        by_org: dict[str, list[str]] = defaultdict(list)
        for row in await self.session.execute(
            select(ledger_tombstones.c.org_id, ledger_tombstones.c.tombstone)
            .where(ledger_tombstones.c.store == store)
            .order_by(ledger_tombstones.c.org_id, ledger_tombstones.c.tombstone)
        ):
            by_org[row.org_id].append(row.tombstone)
        return dict(by_org)


async def record_receipt_tombstones(
    database: Database, org_id: str, receipt: data_subject_pb2.ErasureReceipt
) -> None:
    """Records the tombstones a store's Erase receipt names (a repeated Erase names them
    again: recorded once)."""
    tombstones = [t for kept in receipt.kept for t in kept.tombstones]
    if tombstones:
        async with database.transaction() as session:
            await LedgerRepository(session).record_tombstones(
                org_id, receipt.store, tombstones, datetime.now(UTC)
            )
