"""The audit log's table: entries are written in the transaction of the change they record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import audit_log

INSERT_AUDIT = insert(audit_log)


@dataclass(frozen=True)
class Change:
    actor: str
    action: str  # "<object type>.<verb>", e.g. "api-key.revoked"
    object_id: str
    fields: tuple[str, ...] = ()

    def row(self, org_id: str, at: datetime | None = None) -> dict[str, object]:
        return {
            "org_id": org_id,
            "at": at or datetime.now(UTC),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.action.split(".", 1)[0],
            "object_id": self.object_id,
            "fields": " ".join(self.fields),
        }


async def record(session: AsyncSession, org_id: str, change: Change) -> None:
    await session.execute(INSERT_AUDIT, change.row(org_id))


async def page(session: AsyncSession, org_id: str, limit: int, before_id: int | None) -> list[Row]:
    query = select(audit_log).where(audit_log.c.org_id == org_id)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return list((await session.execute(query.order_by(audit_log.c.id.desc()).limit(limit))).all())


async def about(session: AsyncSession, org_id: str, object_id: str) -> list[Row]:
    return list(
        (
            await session.execute(
                select(audit_log)
                .where(audit_log.c.org_id == org_id, audit_log.c.object_id == object_id)
                .order_by(audit_log.c.id)
            )
        ).all()
    )


async def forget_about(session: AsyncSession, org_id: str, object_id: str) -> int:
    result = await session.execute(
        delete(audit_log).where(audit_log.c.org_id == org_id, audit_log.c.object_id == object_id)
    )
    return result.rowcount or 0
