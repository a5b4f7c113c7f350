"""The forms table: versions are appended, never changed."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.membership.adapters.orm import forms
from services.membership.domain.forms import FormDefinition


async def add(
    session: AsyncSession,
    form_id: str,
    org_id: str,
    definition: FormDefinition,
    version: int,
    now: datetime,
) -> None:
    await session.execute(
        insert(forms).values(
            id=form_id,
            org_id=org_id,
            key=definition.key,
            version=version,
            title=definition.title,
            definition=json.dumps(definition.to_json()),
            published_at=now,
        )
    )


async def latest_version(session: AsyncSession, org_id: str, key: str) -> int:
    return (
        await session.scalar(
            select(func.max(forms.c.version)).where(forms.c.org_id == org_id, forms.c.key == key)
        )
    ) or 0


async def find(session: AsyncSession, org_id: str, key: str, version: int) -> Row | None:
    """Version 0: the latest."""
    query = select(forms).where(forms.c.org_id == org_id, forms.c.key == key)
    if version:
        query = query.where(forms.c.version == version)
    return (await session.execute(query.order_by(forms.c.version.desc()).limit(1))).first()


async def by_id(session: AsyncSession, org_id: str, form_id: str) -> Row | None:
    return (
        await session.execute(select(forms).where(forms.c.org_id == org_id, forms.c.id == form_id))
    ).first()


async def latest_of_each(session: AsyncSession, org_id: str) -> list[Row]:
    newest = (
        select(forms.c.key, func.max(forms.c.version).label("version"))
        .where(forms.c.org_id == org_id)
        .group_by(forms.c.key)
        .subquery()
    )
    return list(
        (
            await session.execute(
                select(forms)
                .join(newest, (forms.c.key == newest.c.key) & (forms.c.version == newest.c.version))
                .where(forms.c.org_id == org_id)
                .order_by(forms.c.key)
            )
        ).all()
    )


def definition_of(row: Row) -> FormDefinition:
    return FormDefinition.from_json(row.key, row.title, json.loads(row.definition))
