"""Idempotent consumers: `(consumer, event_id)` is recorded in the same transaction as the
effects, so a redelivered event is recognised and skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import inbox


async def already_processed(session: AsyncSession, consumer: str, event_id: str) -> bool:
    found = await session.scalar(
        select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    )
    return found is not None


async def mark_processed(session: AsyncSession, consumer: str, event_id: str) -> None:
    await session.execute(
        insert(inbox).values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
    )
