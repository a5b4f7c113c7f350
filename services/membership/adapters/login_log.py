"""The login log's table: append, keep the newest few, read, forget."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import login_log


async def append_keeping_last(
    session: AsyncSession,
    org_id: str,
    member_id: str,
    at: datetime,
    kind: str,
    sealed: bytes,
    keep: int,
) -> None:
    await session.execute(
        insert(login_log).values(
            org_id=org_id, member_id=member_id, at=at, kind=kind, details_sealed=sealed
        )
    )
    newest = (
        select(login_log.c.id)
        .where(login_log.c.org_id == org_id, login_log.c.member_id == member_id)
        .order_by(login_log.c.at.desc(), login_log.c.id.desc())
        .limit(keep)
    )
    await session.execute(
        delete(login_log).where(
            login_log.c.org_id == org_id,
            login_log.c.member_id == member_id,
            login_log.c.id.not_in(newest.scalar_subquery()),
        )
    )


async def newest_first(session: AsyncSession, org_id: str, member_id: str) -> list[Row]:
    return list(
        (
            await session.execute(
                select(login_log)
                .where(login_log.c.org_id == org_id, login_log.c.member_id == member_id)
                .order_by(login_log.c.at.desc(), login_log.c.id.desc())
            )
        ).all()
    )


async def forget(session: AsyncSession, org_id: str, member_id: str) -> int:
    result = await session.execute(
        delete(login_log).where(login_log.c.org_id == org_id, login_log.c.member_id == member_id)
    )
    return result.rowcount or 0
