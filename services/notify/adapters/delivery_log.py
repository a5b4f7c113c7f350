"""Queries for the delivery webhooks: the providers' events by their dedupe keys, and the
message log's rows they change. The webhooks are the service's own work (no org calls them),
so they find messages by id and scope every change by the org of the row they found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.upsert import insert_ignore
from services.notify.adapters.orm import delivery_events, messages, suppressions

_FIELDS = (
    messages.c.id,
    messages.c.org_id,
    messages.c.member_id,
    messages.c.channel,
    messages.c.purpose,
    messages.c.message_class,
    messages.c.status,
    messages.c.provider_ref,
)


async def first_time(
    session: AsyncSession,
    provider: str,
    key: str,
    message_id: str | None,
    event: str,
    now: datetime,
) -> bool:
    """Records the event; False if it was recorded before (a redelivery)."""
    return await insert_ignore(
        session,
        delivery_events,
        {
            "provider": provider,
            "dedupe_key": key,
            "message_id": message_id,
            "event": event,
            "received_at": now,
        },
        ["provider", "dedupe_key"],
    )


async def message(session: AsyncSession, message_id: str) -> Row | None:
    return (await session.execute(select(*_FIELDS).where(messages.c.id == message_id))).first()


async def message_by_ref(session: AsyncSession, provider: str, ref: str) -> Row | None:
    return (
        await session.execute(
            select(*_FIELDS).where(messages.c.provider == provider, messages.c.provider_ref == ref)
        )
    ).first()


async def set_status(
    session: AsyncSession,
    row: Row,
    status: str,
    now: datetime,
    *,
    delivered_at: datetime | None = None,
    last_error: str | None = None,
) -> None:
    values: dict[str, object] = {"status": status, "updated_at": now}
    if delivered_at is not None:
        values["delivered_at"] = delivered_at
    if last_error:
        values["last_error"] = last_error[:100]
    await session.execute(
        update(messages)
        .where(messages.c.org_id == row.org_id, messages.c.id == row.id)
        .values(values)
    )


async def sent_to(session: AsyncSession, channel: str, recipient_hash: str) -> list[Row]:
    """Who was sent what on this channel at this (hashed) address: org, member, class and
    purpose, once each."""
    return list(
        (
            await session.execute(
                select(
                    messages.c.org_id,
                    messages.c.member_id,
                    messages.c.message_class,
                    messages.c.purpose,
                )
                .where(messages.c.channel == channel, messages.c.recipient_hash == recipient_hash)
                .distinct()
            )
        ).all()
    )


async def forget_events(session: AsyncSession, message_ids: list[str]) -> int:
    """The delivery events of these messages (an erasure)."""
    if not message_ids:
        return 0
    result = await session.execute(
        delete(delivery_events).where(delivery_events.c.message_id.in_(message_ids))
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def suppressed_of(
    session: AsyncSession, org_id: str, hashes: set[tuple[str, str]]
) -> list[Row]:
    """The org's suppression rows among these (channel, address hash) pairs."""
    if not hashes:
        return []
    rows = await session.execute(
        select(suppressions.c.channel, suppressions.c.address_hash, suppressions.c.reason).where(
            suppressions.c.org_id == org_id,
            suppressions.c.address_hash.in_(sorted({h for _, h in hashes})),
        )
    )
    return [row for row in rows if (row.channel, row.address_hash) in hashes]
