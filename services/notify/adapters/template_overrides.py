"""An org's own template parts (table template_overrides), scoped by org. Reads are cached
for a few seconds: a consumer batch queues many messages of one kind for one org."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.upsert import upsert
from services.notify.adapters.orm import template_overrides

CACHE_TTL_S = 5.0
t = template_overrides


class TemplateOverrides:
    def __init__(self, cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._ttl = cache_ttl_s
        self._cache: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}

    async def parts(
        self, session: AsyncSession, org_id: str, template: str, language: str
    ) -> dict[str, str]:
        """The org's own parts of the kind in the language: part -> template text."""
        key = (org_id, template, language)
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        rows = await session.execute(
            select(t.c.part, t.c.body).where(
                t.c.org_id == org_id, t.c.template == template, t.c.language == language
            )
        )
        found = {row.part: row.body for row in rows}
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self._ttl, found)
        return found

    async def save(
        self,
        session: AsyncSession,
        org_id: str,
        template: str,
        language: str,
        part: str,
        body: str,
        now: datetime,
    ) -> None:
        """Saves the org's part; an empty body goes back to ours."""
        self._cache.pop((org_id, template, language), None)
        if not body:
            await session.execute(
                delete(t).where(
                    t.c.org_id == org_id,
                    t.c.template == template,
                    t.c.language == language,
                    t.c.part == part,
                )
            )
            return
        await upsert(
            session,
            t,
            {
                "org_id": org_id,
                "template": template,
                "language": language,
                "part": part,
                "body": body,
                "updated_at": now,
            },
            ["org_id", "template", "language", "part"],
            {"body": body, "updated_at": now},
        )

    async def of_org(self, session: AsyncSession, org_id: str) -> list[Row]:
        return list(
            (
                await session.execute(
                    select(t.c.template, t.c.language, t.c.part, t.c.updated_at)
                    .where(t.c.org_id == org_id)
                    .order_by(t.c.template, t.c.language, t.c.part)
                )
            ).all()
        )
