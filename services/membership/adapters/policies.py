"""Privacy policy and terms versions, and the members an acceptance is missing from."""

from __future__ import annotations

from sqlalchemy import case, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from services.membership.adapters.orm import members, policies
from services.membership.domain.status import CANCELLED


async def add(session: AsyncSession, values: dict[str, object]) -> None:
    await session.execute(insert(policies).values(**values))


async def versions(session: AsyncSession, org_id: str, kind: str | None) -> list[Row]:
    query = select(policies).where(policies.c.org_id == org_id)
    if kind:
        query = query.where(policies.c.kind == kind)
    return list(
        (await session.execute(query.order_by(policies.c.kind, policies.c.version.desc()))).all()
    )


async def state(session: AsyncSession, org_id: str) -> dict[str, tuple[int, int]]:
    """Per kind: (current version, last material version)."""
    rows = await session.execute(
        select(
            policies.c.kind,
            func.max(policies.c.version),
            func.max(case((policies.c.material, policies.c.version), else_=0)),
        )
        .where(policies.c.org_id == org_id)
        .group_by(policies.c.kind)
    )
    return {kind: (current, material) for kind, current, material in rows.all()}


def acceptance_missing(privacy_material: int, terms_material: int) -> ColumnElement[bool]:
    """Members (not cancelled) whose accepted version is older than the last material change."""
    return (members.c.status != CANCELLED) & (
        (members.c.policy_version < privacy_material) | (members.c.terms_version < terms_material)
    )


async def members_to_reconsent(
    session: AsyncSession, org_id: str, privacy_material: int, terms_material: int
) -> list[str]:
    return list(
        (
            await session.execute(
                select(members.c.id).where(
                    members.c.org_id == org_id,
                    acceptance_missing(privacy_material, terms_material),
                )
            )
        ).scalars()
    )
