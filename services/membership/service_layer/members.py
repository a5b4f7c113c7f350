"""Members' rights an org handles for them: see the register, rectify, cancel. Every change
is audited by field name and, for status, announced as an event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.common.sealing import blind_index
from services.membership.adapters import audit
from services.membership.adapters import policies as policy_table
from services.membership.adapters.audit import Change
from services.membership.adapters.orm import members
from services.membership.adapters.repository import Repository
from services.membership.domain.objections import with_objection
from services.membership.domain.status import (
    CANCELLATION,
    CANCELLED,
    cancelled_from,
    parse_status_filter,
)
from services.membership.domain.validation import email_lookup_form, page_limit, validate_member
from services.membership.metrics import STATUS_CHANGES
from services.membership.service_layer.handlers import MembershipHandlers, MemberView
from services.membership.service_layer.lifecycle import change_status

UPDATABLE = ("name", "email", "phone", "language")


@dataclass(frozen=True)
class MemberPage:
    members: list[MemberView]
    next_token: str


class MemberRights:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def list(
        self,
        org_id: str,
        page_size: int,
        token: str,
        status: str = "",
        type_id: str = "",
        needs_reconsent: bool = False,
    ) -> MemberPage:
        wanted = parse_status_filter(status)
        limit = page_limit(page_size)
        async with self.database.sessions() as session:
            repo = Repository(session)
            org = await self.handlers.org(org_id, repo)
            if org is None:
                raise NotFound("org not found")
            conditions = []
            if wanted is not None:
                conditions.append(members.c.status == wanted)
            if type_id:
                conditions.append(members.c.type_id == type_id)
            if needs_reconsent:
                conditions.append(
                    policy_table.acceptance_missing(org.privacy.material, org.terms.material)
                )
            rows = await repo.members_page(org_id, token, limit, *conditions)
        await self.handlers.sealer.prefetch([row.id for row in rows])
        views = [await self.handlers.view(row, org) for row in rows]
        return MemberPage(views, rows[-1].id if len(rows) == limit else "")

    async def update(
        self, caller: Principal, member_id: str, changes: dict[str, str]
    ) -> MemberView:
        unknown = sorted(set(changes) - set(UPDATABLE))
        if not changes or unknown:
            raise InvalidArgument(
                {
                    "update_mask": f"name one or more of {', '.join(UPDATABLE)}"
                    + (f"; not {', '.join(unknown)}" if unknown else "")
                }
            )
        current = await self.handlers.get_member(caller.org_id, member_id)
        merged = {f: changes.get(f, getattr(current, f)) for f in UPDATABLE}
        draft = validate_member(
            merged["name"], merged["email"], merged["phone"], merged["language"] or current.language
        )
        new = {
            "name": draft.name,
            "email": draft.email,
            "phone": draft.phone,
            "language": draft.language or current.language,
        }
        changed = tuple(f for f in UPDATABLE if new[f] != getattr(current, f))
        if not changed:
            return current
        sealed = await self.handlers.sealer.seal(
            member_id, {f: new[f] for f in ("name", "email", "phone") if f in changed}
        )
        values: dict[str, object] = {f"{f}_sealed": v for f, v in sealed.items()}
        if "language" in changed:
            values["language"] = new["language"]
        if "email" in changed:
            values["email_index"] = blind_index(
                self.handlers.index_key, caller.org_id, email_lookup_form(new["email"])
            )
        try:
            await change_member(self.database, caller, member_id, "member.updated", changed, values)
        except IntegrityError as exc:
            raise AlreadyExists("another member of this org has that email address") from exc
        return await self.handlers.get_member(caller.org_id, member_id)

    async def restrict(self, caller: Principal, member_id: str, restricted: bool) -> MemberView:
        """Restriction of processing: kept, but used only for what law or contract requires."""
        current = await self.handlers.get_member(caller.org_id, member_id)
        if current.restricted != restricted:
            await change_member(
                self.database,
                caller,
                member_id,
                "member.restriction-set",
                ("restricted",),
                {"restricted_at": datetime.now(UTC) if restricted else None},
            )
        return await self.handlers.get_member(caller.org_id, member_id)

    async def object_to(
        self, caller: Principal, member_id: str, purpose: str, objecting: bool
    ) -> MemberView:
        current = await self.handlers.get_member(caller.org_id, member_id)
        objections = with_objection(current.objections, purpose, objecting)
        if objections != current.objections:
            await change_member(
                self.database,
                caller,
                member_id,
                "member.objection-set",
                ("objections",),
                {"objections": " ".join(objections)},
            )
        return await self.handlers.get_member(caller.org_id, member_id)

    async def cancel(self, caller: Principal, member_id: str) -> MemberView:
        async with self.database.transaction() as session:
            repo = Repository(session)
            # Locked, like the lifecycle's changes: a payment or the sweep at the same moment
            # waits instead of overwriting the cancellation (or being overwritten).
            row = await repo.membership_for_update(caller.org_id, member_id)
            if row is None:
                raise NotFound(f"member {member_id} not found")
            await change_status(
                session,
                row,
                {"status": cancelled_from(row.status)},
                CANCELLATION,
                Change(caller.actor, "member.cancelled", member_id),
            )
        self.handlers.relay.wake()
        STATUS_CHANGES.labels(CANCELLATION, CANCELLED).inc()
        return await self.handlers.get_member(caller.org_id, member_id)


async def change_member(
    database: Database,
    caller: Principal,
    member_id: str,
    action: str,
    fields: tuple[str, ...],
    values: dict[str, object],
) -> None:
    """Some of a member's columns changed and audited (by field name) in one transaction."""
    async with database.transaction() as session:
        await Repository(session).update_member(caller.org_id, member_id, values)
        await audit.record(session, caller.org_id, Change(caller.actor, action, member_id, fields))
