"""The consent history: every grant and withdrawal, append-only until the member is erased."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import consents

INSERT_CONSENT = insert(consents)


async def history(session: AsyncSession, org_id: str, member_id: str) -> list[Row]:
    return list(
        (
            await session.execute(
                select(consents)
                .where(consents.c.org_id == org_id, consents.c.member_id == member_id)
                .order_by(consents.c.id)
            )
        ).all()
    )


async def forget(session: AsyncSession, org_id: str, member_id: str) -> int:
    result = await session.execute(
        delete(consents).where(consents.c.org_id == org_id, consents.c.member_id == member_id)
    )
    return result.rowcount or 0


def consent_row(
    org_id: str,
    member_id: str,
    purpose: str,
    granted: bool,
    at: datetime,
    source: str,
    policy_version: int,
) -> dict[str, object]:
    return {
        "org_id": org_id,
        "member_id": member_id,
        "purpose": purpose,
        "granted": granted,
        "at": at,
        "source": source,
        "policy_version": policy_version,
    }
