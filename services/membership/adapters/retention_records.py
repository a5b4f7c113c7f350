"""What membership's retention sweep reads of one org (members with the dates their rules
count from, sessions, consents, audit entries about members) and removes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import audit_log, consents, login_log, members

MEMBER = "member"


class RetentionRecords:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def members(self, org_id: str) -> list[Row]:
        m = members.c
        result = await self.session.execute(
            select(m.id, m.status, m.registered_at, m.period_start).where(m.org_id == org_id)
        )
        return list(result.all())

    async def status_changes(self, org_id: str) -> dict[str, Any]:
        """Each member's newest audited status change (the audit log names fields only)."""
        a = audit_log.c
        result = await self.session.execute(
            select(a.object_id, func.max(a.at))
            .where(
                a.org_id == org_id,
                a.object_type == MEMBER,
                (a.fields == "status")
                | a.fields.like("status %")
                | a.fields.like("% status")
                | a.fields.like("% status %"),
            )
            .group_by(a.object_id)
        )
        return {row[0]: row[1] for row in result.all()}

    async def logins(self, org_id: str) -> list[Row]:
        t = login_log.c
        result = await self.session.execute(
            select(t.id, t.member_id, t.at, t.details_sealed).where(t.org_id == org_id)
        )
        return list(result.all())

    async def consents(self, org_id: str) -> list[Row]:
        c = consents.c
        result = await self.session.execute(
            select(c.id, c.member_id, c.purpose, c.granted, c.at)
            .where(c.org_id == org_id)
            .order_by(c.id)
        )
        return list(result.all())

    async def audit_entries(self, org_id: str) -> list[Row]:
        a = audit_log.c
        result = await self.session.execute(
            select(a.id, a.object_id, a.at).where(a.org_id == org_id, a.object_type == MEMBER)
        )
        return list(result.all())

    async def delete(self, table: str, org_id: str, ids: list[int]) -> int:
        target = {"login_log": login_log, "consents": consents, "audit_log": audit_log}[table]
        result = await self.session.execute(
            delete(target).where(target.c.org_id == org_id, target.c.id.in_(ids))
        )
        return result.rowcount or 0

    async def reseal_login(self, org_id: str, login_id: int, sealed: bytes) -> None:
        await self.session.execute(
            update(login_log)
            .where(login_log.c.org_id == org_id, login_log.c.id == login_id)
            .values(details_sealed=sealed)
        )
