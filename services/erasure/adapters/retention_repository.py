"""The loads of each org's retention profile: appended, never changed; the newest load of an
org is its active profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.erasure.adapters.orm import metadata

retention_profile_loads = Table(
    "retention_profile_loads",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("name", String(50), nullable=False),
    Column("version", Integer, nullable=False),
    Column("origin", String(120), nullable=False),
    Column("profile_yaml", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("loaded_by", String(80), nullable=False),
    PrimaryKeyConstraint("org_id", "revision"),
)


class ProfileLoads:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def history(self, org_id: str) -> list[Row]:
        """Newest first."""
        t = retention_profile_loads.c
        result = await self.session.execute(
            select(retention_profile_loads).where(t.org_id == org_id).order_by(t.revision.desc())
        )
        return list(result.all())

    async def add(self, values: dict[str, Any]) -> None:
        await self.session.execute(retention_profile_loads.insert().values(**values))

    async def active(self) -> list[Row]:
        """Every org's newest load."""
        t = retention_profile_loads.c
        newest = (
            select(t.org_id, func.max(t.revision).label("revision")).group_by(t.org_id).subquery()
        )
        result = await self.session.execute(
            select(retention_profile_loads)
            .join(newest, (t.org_id == newest.c.org_id) & (t.revision == newest.c.revision))
            .order_by(t.org_id)
        )
        return list(result.all())
