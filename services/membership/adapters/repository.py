"""Queries on membership's tables. Every member query is scoped by org."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from services.common.db.upsert import insert_ignore
from services.membership.adapters.orm import (
    api_keys,
    erased_addresses,
    members,
    membership_types,
    orgs,
)

# Built once: the sign-up path runs them for every member.
INSERT_MEMBER = insert(members)
# What the status lifecycle reads and changes of a member.
_MEMBERSHIP = (
    members.c.id,
    members.c.org_id,
    members.c.status,
    members.c.type_id,
    members.c.period_start,
    members.c.period_end,
)
_MEMBER_BY_EMAIL = select(members.c.id).where(
    members.c.org_id == bindparam("org_id"), members.c.email_index == bindparam("email_index")
)


def member_row(
    member_id: str,
    org_id: str,
    sealed: dict[str, bytes],
    email_index: str,
    language: str,
    status: str,
    now: datetime,
    *,
    type_id: str | None = None,
    form_id: str | None = None,
    policy_version: int = 0,
    terms_version: int = 0,
    consents: tuple[str, ...] = (),
) -> dict[str, object]:
    """Every column each time: a group of sign-ups is one multi-row insert."""
    return {
        "id": member_id,
        "org_id": org_id,
        "name_sealed": sealed["name"],
        "email_sealed": sealed["email"],
        "phone_sealed": sealed["phone"],
        "profile_sealed": sealed.get("profile"),
        "email_index": email_index,
        "language": language,
        "status": status,
        "registered_at": now,
        "type_id": type_id,
        "form_id": form_id,
        "policy_version": policy_version,
        "terms_version": terms_version,
        "consents": " ".join(consents),
    }


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_org(
        self, org_id: str, name: str, org_number: str, language: str, now: datetime
    ) -> None:
        await self.session.execute(
            insert(orgs).values(
                id=org_id, name=name, org_number=org_number, language=language, created_at=now
            )
        )

    async def org(self, org_id: str) -> Row | None:
        return (await self.session.execute(select(orgs).where(orgs.c.id == org_id))).first()

    async def update_org(self, org_id: str, values: dict[str, object]) -> None:
        await self.session.execute(update(orgs).where(orgs.c.id == org_id).values(**values))

    async def org_contacts(self, after: str, limit: int) -> list[Row]:
        """Orgs in id order after `after`: id, name, contact email and language."""
        query = (
            select(orgs.c.id, orgs.c.name, orgs.c.contact_email, orgs.c.language)
            .where(orgs.c.id > after)
            .order_by(orgs.c.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).all())

    async def org_id_by_number(self, org_number: str) -> str | None:
        return await self.session.scalar(select(orgs.c.id).where(orgs.c.org_number == org_number))

    async def add_api_key(
        self,
        key_id: str,
        org_id: str,
        secret_hash: str,
        scopes: tuple[str, ...],
        now: datetime,
        label: str = "",
    ) -> None:
        await self.session.execute(
            insert(api_keys).values(
                key_id=key_id,
                org_id=org_id,
                secret_hash=secret_hash,
                scopes=" ".join(scopes),
                label=label,
                created_at=now,
            )
        )

    async def api_keys_of(self, org_id: str, include_revoked: bool) -> list[Row]:
        query = select(api_keys).where(api_keys.c.org_id == org_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        return list((await self.session.execute(query.order_by(api_keys.c.created_at))).all())

    async def revoke_api_key(self, key_id: str, now: datetime) -> None:
        await self.session.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now)
        )

    async def api_key(self, key_id: str) -> Row | None:
        return (
            await self.session.execute(select(api_keys).where(api_keys.c.key_id == key_id))
        ).first()

    async def member(self, org_id: str, member_id: str) -> Row | None:
        return (
            await self.session.execute(
                select(members).where(members.c.org_id == org_id, members.c.id == member_id)
            )
        ).first()

    async def members_by_ids(self, member_ids: list[str]) -> list[Row]:
        """Unscoped: for internal callers, who filter by the org each id came with."""
        return list(
            (await self.session.execute(select(members).where(members.c.id.in_(member_ids)))).all()
        )

    async def membership_for_update(self, org_id: str, member_id: str) -> Row | None:
        """A member's status and period, locked until the transaction ends (PostgreSQL)."""
        return (
            await self.session.execute(
                select(*_MEMBERSHIP)
                .where(members.c.org_id == org_id, members.c.id == member_id)
                .with_for_update()
            )
        ).first()

    async def memberships_ended(
        self, status: str, before: date, after_id: str, limit: int
    ) -> list[Row]:
        """Unscoped, for the lifecycle sweep: members of every org in `status` whose period
        ended before `before`, in id order; rows another transaction holds are skipped."""
        return list(
            (
                await self.session.execute(
                    select(*_MEMBERSHIP)
                    .where(
                        members.c.status == status,
                        members.c.period_end < before,
                        members.c.id > after_id,
                    )
                    .order_by(members.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )

    async def member_id_by_email_index(self, org_id: str, email_index: str) -> str | None:
        return await self.session.scalar(
            _MEMBER_BY_EMAIL, {"org_id": org_id, "email_index": email_index}
        )

    async def members_page(
        self,
        org_id: str,
        after_id: str,
        limit: int,
        *conditions: ColumnElement[bool],
    ) -> list[Row]:
        """A page of the org's members meeting every condition, in id order."""
        query = select(members).where(members.c.org_id == org_id, members.c.id > after_id)
        for condition in conditions:
            query = query.where(condition)
        return list((await self.session.execute(query.order_by(members.c.id).limit(limit))).all())

    async def update_member(self, org_id: str, member_id: str, values: dict[str, object]) -> None:
        await self.session.execute(
            update(members)
            .where(members.c.org_id == org_id, members.c.id == member_id)
            .values(**values)
        )

    async def delete_member(self, org_id: str, member_id: str) -> int:
        result = await self.session.execute(
            delete(members).where(members.c.org_id == org_id, members.c.id == member_id)
        )
        return result.rowcount or 0

    async def tombstone_address(self, org_id: str, member_id: str, at: datetime) -> str | None:
        """Keeps the member's address blind index in erased_addresses (before the member row
        goes): how an import knows not to bring them back. Returns the one it kept."""
        email_index = await self.session.scalar(
            select(members.c.email_index).where(
                members.c.org_id == org_id, members.c.id == member_id
            )
        )
        if email_index is not None:
            await insert_ignore(
                self.session,
                erased_addresses,
                {"org_id": org_id, "email_index": email_index, "erased_at": at},
                ("org_id", "email_index"),
            )
        return email_index

    async def restore_tombstones(self, org_id: str, email_indexes: list[str], at: datetime) -> int:
        """Puts back the erased addresses a restore lost; returns how many were missing."""
        restored = 0
        for email_index in sorted(set(email_indexes)):
            restored += await insert_ignore(
                self.session,
                erased_addresses,
                {"org_id": org_id, "email_index": email_index, "erased_at": at},
                ("org_id", "email_index"),
            )
        return restored

    async def address_erased(self, org_id: str, email_index: str) -> bool:
        found = await self.session.scalar(
            select(erased_addresses.c.erased_at).where(
                erased_addresses.c.org_id == org_id,
                erased_addresses.c.email_index == email_index,
            )
        )
        return found is not None

    async def member_ids_after(self, org_id: str, after_id: str, limit: int) -> list[str]:
        return list(
            await self.session.scalars(
                select(members.c.id)
                .where(members.c.org_id == org_id, members.c.id > after_id)
                .order_by(members.c.id)
                .limit(limit)
            )
        )

    async def add_membership_type(self, values: dict[str, object]) -> None:
        await self.session.execute(insert(membership_types).values(**values))

    async def membership_type(self, org_id: str, type_id: str) -> Row | None:
        return (
            await self.session.execute(
                select(membership_types).where(
                    membership_types.c.org_id == org_id, membership_types.c.id == type_id
                )
            )
        ).first()

    async def membership_types_of(self, org_id: str) -> list[Row]:
        return list(
            (
                await self.session.execute(
                    select(membership_types)
                    .where(membership_types.c.org_id == org_id)
                    .order_by(membership_types.c.created_at, membership_types.c.name)
                )
            ).all()
        )
