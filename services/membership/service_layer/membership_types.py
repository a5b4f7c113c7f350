"""Membership types of an org: what a payment buys (period, calendar or rolling) and how long
grace lasts. Created by the org's admins, audited; names are unique per org."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.errors import AlreadyExists
from services.common.grpc.auth import Principal
from services.membership.adapters import audit
from services.membership.adapters.audit import Change
from services.membership.adapters.repository import Repository
from services.membership.domain.periods import validate_type
from services.membership.service_layer.handlers import MembershipHandlers

FIELDS = ("name", "period", "kind", "rollover", "grace_days")


@dataclass(frozen=True)
class MembershipTypeView:
    type_id: str
    name: str
    period: str
    kind: str
    rollover: str
    grace_days: int
    created_at: datetime

    @classmethod
    def of(cls, row: Row) -> MembershipTypeView:
        return cls(
            row.id, row.name, row.period, row.kind, row.rollover, row.grace_days, row.created_at
        )


class MembershipTypes:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def create(
        self, caller: Principal, name: str, period: str, kind: str, rollover: str, grace_days: int
    ) -> MembershipTypeView:
        draft = validate_type(name, period, kind, rollover, grace_days)
        org_id = caller.org_id
        created = MembershipTypeView(
            str(uuid.uuid4()),
            draft.name,
            draft.period,
            draft.kind,
            draft.rollover,
            draft.grace_days,
            datetime.now(UTC),
        )
        try:
            async with self.database.transaction() as session:
                repo = Repository(session)
                for existing in await repo.membership_types_of(org_id):
                    if existing.name.casefold() == draft.name.casefold():
                        raise AlreadyExists(f"membership type exists as {existing.id}", existing.id)
                await repo.add_membership_type(
                    {
                        "id": created.type_id,
                        "org_id": org_id,
                        "name": created.name,
                        "period": created.period,
                        "kind": created.kind,
                        "rollover": created.rollover,
                        "grace_days": created.grace_days,
                        "created_at": created.created_at,
                    }
                )
                await audit.record(
                    session,
                    org_id,
                    Change(caller.actor, "membership-type.created", created.type_id, FIELDS),
                )
        except IntegrityError as exc:  # the same name, created at the same moment
            raise AlreadyExists("a membership type of this org has that name") from exc
        # Sign-ups pick the org's only type by default: they must see the new one at once.
        self.handlers.forget_org(org_id)
        return created

    async def list(self, org_id: str) -> list[MembershipTypeView]:
        async with self.database.sessions() as session:
            rows = await Repository(session).membership_types_of(org_id)
        return [MembershipTypeView.of(row) for row in rows]
