"""The time a member was last sent a privacy page link, set only if the last one is old
enough: one conditional UPDATE, so two requests at the same moment send one link."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import members


async def stamp_if_due(
    session: AsyncSession, org_id: str, member_id: str, now: datetime, not_after: datetime
) -> bool:
    """Records `now` as the member's last link unless one was sent after `not_after`."""
    result = await session.execute(
        update(members)
        .where(
            members.c.org_id == org_id,
            members.c.id == member_id,
            or_(
                members.c.privacy_link_sent_at.is_(None),
                members.c.privacy_link_sent_at <= not_after,
            ),
        )
        .values(privacy_link_sent_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
