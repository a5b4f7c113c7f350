"""Queries on the suppression list, scoped by org. Rows hold keyed hashes, not addresses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.upsert import insert_ignore
from services.notify.adapters.orm import suppressions


async def suppress(
    session: AsyncSession, org_id: str, channel: str, address_hash: str, reason: str, now: datetime
) -> bool:
    """True if the address was not suppressed on this channel before."""
    return await insert_ignore(
        session,
        suppressions,
        {
            "org_id": org_id,
            "channel": channel,
            "address_hash": address_hash,
            "reason": reason,
            "created_at": now,
        },
        ["org_id", "channel", "address_hash"],
    )


async def suppression_reason(
    session: AsyncSession, org_id: str, channel: str, address_hash: str
) -> str | None:
    """Why the address may not be sent to on this channel; None if it may."""
    return await session.scalar(
        select(suppressions.c.reason).where(
            suppressions.c.org_id == org_id,
            suppressions.c.channel == channel,
            suppressions.c.address_hash == address_hash,
        )
    )
