"""Queries on export archives, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.erasure.adapters.orm import export_archives

A = export_archives.c


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(export_archives).values(**values))

    async def get(self, request_id: str) -> Row | None:
        return (
            await self.session.execute(select(export_archives).where(A.request_id == request_id))
        ).first()

    async def take(self, request_id: str, at: datetime) -> bool:
        """Marks the archive downloaded and empties it, if it was still there and unexpired:
        True for the one caller that got it (a conditional update, so two at once cannot)."""
        result = await self.session.execute(
            update(export_archives)
            .where(
                A.request_id == request_id,
                A.downloaded_at.is_(None),
                A.sealed_archive.is_not(None),
                A.expires_at > at,
            )
            .values(downloaded_at=at, sealed_archive=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def empty_expired(self, now: datetime) -> int:
        result = await self.session.execute(
            update(export_archives)
            .where(A.sealed_archive.is_not(None), A.expires_at <= now)
            .values(sealed_archive=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
