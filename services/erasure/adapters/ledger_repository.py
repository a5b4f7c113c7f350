"""The erasure ledger's table: rows are appended, and read back whole by a replay; nothing
here updates or deletes one."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.erasure.adapters.orm import erasure_ledger
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
