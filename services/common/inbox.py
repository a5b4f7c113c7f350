"""Idempotent consumers: `(consumer, event_id)` is recorded in the same transaction as the
effects, so a redelivered event is recognised and skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import inbox


async def processed_among(session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
    """Which of these events this consumer has already handled."""
    found = await session.scalars(
        select(inbox.c.event_id).where(
            inbox.c.consumer == consumer, inbox.c.event_id.in_(event_ids)
        )
    )
    return set(found)


async def mark_processed(session: AsyncSession, consumer: str, event_ids: list[str]) -> None:
    if not event_ids:
        return
    now = datetime.now(UTC)
    await session.execute(
        insert(inbox),
        [{"consumer": consumer, "event_id": e, "processed_at": now} for e in event_ids],
    )
