"""What notify's retention sweep reads of one org's message log, and deletes; and when each
member's membership ended (kept from membership's status changes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.timestamps import as_utc
from services.notify.adapters import delivery_log
from services.notify.adapters.orm import messages, relationship_ends
from services.notify.domain.retention import LoggedMessage


class RetentionMessages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_org(self, org_id: str) -> list[LoggedMessage]:
        m = messages.c
        result = await self.session.execute(
            select(m.id, m.member_id, m.message_class, m.purpose, m.status, m.created_at).where(
                m.org_id == org_id
            )
        )
        return [LoggedMessage(*row[:5], as_utc(row.created_at)) for row in result.all()]

    async def copies(self, org_id: str, ids: list[str]) -> list[Row]:
        """Where each message may have a copy: id, channel, provider and the provider's id."""
        m = messages.c
        result = await self.session.execute(
            select(m.id, m.channel, m.provider, m.provider_ref).where(
                m.org_id == org_id, m.id.in_(ids)
            )
        )
        return list(result.all())

    async def delete(self, org_id: str, ids: list[str]) -> int:
        """The messages and their delivery events."""
        await delivery_log.forget_events(self.session, ids)
        result = await self.session.execute(
            delete(messages).where(messages.c.org_id == org_id, messages.c.id.in_(ids))
        )
        return result.rowcount or 0

    async def relationship_ends(self, org_id: str) -> dict[str, datetime]:
        e = relationship_ends.c
        result = await self.session.execute(
            select(e.member_id, e.ended_at).where(e.org_id == org_id)
        )
        return {row.member_id: as_utc(row.ended_at) for row in result.all()}

    async def relationship_ended(self, org_id: str, member_id: str, at: datetime | None) -> None:
        """The member's membership ended at `at` (the newest end wins), or, None, runs again."""
        e = relationship_ends.c
        await self.session.execute(
            delete(relationship_ends).where(e.org_id == org_id, e.member_id == member_id)
        )
        if at is not None:
            await self.session.execute(
                relationship_ends.insert().values(org_id=org_id, member_id=member_id, ended_at=at)
            )
