"""Queries on the message log, scoped by org."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.adapters.orm import messages

_INSERT = insert(messages)


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: object) -> None:
        await self.session.execute(_INSERT, values)

    async def of_member(self, org_id: str, member_id: str) -> list[Row]:
        return list(
            (
                await self.session.execute(
                    select(messages)
                    .where(messages.c.org_id == org_id, messages.c.member_id == member_id)
                    .order_by(messages.c.created_at)
                )
            ).all()
        )

    async def member_ids_after(self, org_id: str, after: str, limit: int) -> list[str]:
        """The members of an org with messages in the log, ascending: for the erasure
        ledger's replay."""
        return list(
            await self.session.scalars(
                select(messages.c.member_id)
                .where(messages.c.org_id == org_id, messages.c.member_id > after)
                .group_by(messages.c.member_id)
                .order_by(messages.c.member_id)
                .limit(limit)
            )
        )

    async def delete_of_member(self, org_id: str, member_id: str) -> int:
        result = await self.session.execute(
            delete(messages).where(messages.c.org_id == org_id, messages.c.member_id == member_id)
        )
        return result.rowcount or 0
