"""Membership use cases. Each one validates, then changes state and queues its event in one
transaction. Personal fields are sealed before they reach the database."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from membership.v1 import events_pb2
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import AlreadyExists, NotFound
from services.common.grpc.auth import ORG_SCOPES, Principal
from services.common.outbox import OutboxRelay, outbox_row
from services.common.sealing import (
    Sealer,
    SubjectForgotten,
    SubjectReservations,
    blind_index,
)
from services.common.topics import MEMBER_REGISTERED
from services.membership.adapters import audit
from services.membership.adapters.audit import Change
from services.membership.adapters.repository import Repository, member_row
from services.membership.adapters.signup_writer import SignupWriter
from services.membership.domain import api_keys
from services.membership.domain.status import PENDING
from services.membership.domain.validation import (
    email_lookup_form,
    validate_member,
    validate_org,
)
from services.membership.metrics import MEMBERS_REGISTERED, ORGS_CREATED, REGISTRATIONS_REJECTED

SEALED_FIELDS = ("name", "email", "phone")
STATUS_PENDING = PENDING
ORG_CACHE_TTL_S = 30.0


@dataclass(frozen=True)
class CreatedOrg:
    org_id: str
    api_key: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class MemberView:
    member_id: str
    org_id: str
    name: str
    email: str
    phone: str
    language: str
    status: str
    registered_at: datetime
    org_name: str = ""
    restricted: bool = False
    objections: tuple[str, ...] = ()


class MembershipHandlers:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        subjects: SubjectReservations,
        index_key: bytes,
        relay: OutboxRelay,
        default_language: str = "nb",
    ) -> None:
        self.database = database
        self.signups = SignupWriter(database)
        self.sealer = sealer
        self.subjects = subjects
        self.index_key = index_key
        self.relay = relay
        self.default_language = default_language
        # Orgs are read on every sign-up and contact lookup and change rarely.
        self._orgs: dict[str, tuple[float, Row]] = {}

    async def org(self, repo: Repository, org_id: str) -> Row | None:
        cached = self._orgs.get(org_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        row = await repo.org(org_id)
        if row is not None:
            self._orgs[org_id] = (time.monotonic() + ORG_CACHE_TTL_S, row)
        return row

    async def create_org(self, actor: str, name: str, org_number: str, language: str) -> CreatedOrg:
        draft = validate_org(name, org_number, language or self.default_language)
        org_id = str(uuid.uuid4())
        key = api_keys.mint()
        now = datetime.now(UTC)
        try:
            async with self.database.transaction() as session:
                repo = Repository(session)
                existing = await repo.org_id_by_number(draft.org_number)
                if existing:
                    raise AlreadyExists(f"org {draft.org_number} exists as {existing}", existing)
                await repo.add_org(org_id, draft.name, draft.org_number, draft.language, now)
                await repo.add_api_key(
                    key.key_id, org_id, key.secret_hash, ORG_SCOPES, now, label="first key"
                )
                await audit.record(
                    session,
                    org_id,
                    Change(actor, "org.created", org_id, ("name", "org_number", "language")),
                )
                await audit.record(
                    session,
                    org_id,
                    Change(actor, "api-key.created", key.key_id, ("scopes", "label")),
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"org {draft.org_number} already exists") from exc
        ORGS_CREATED.inc()
        return CreatedOrg(org_id, key.plaintext, ORG_SCOPES)

    async def introspect(self, api_key: str) -> Principal | None:
        parsed = api_keys.parse(api_key)
        if parsed is None:
            return None
        key_id, secret = parsed
        async with self.database.sessions() as session:
            row = await Repository(session).api_key(key_id)
        if (
            row is None
            or row.revoked_at is not None
            or not api_keys.matches(secret, row.secret_hash)
        ):
            return None
        return Principal(
            kind="org", org_id=row.org_id, scopes=frozenset(row.scopes.split()), key_id=row.key_id
        )

    async def register_member(
        self, actor: str, org_id: str, name: str, email: str, phone: str, language: str
    ) -> MemberView:
        try:
            draft = validate_member(name, email, phone, language)
        except Exception:
            REGISTRATIONS_REJECTED.labels("invalid").inc()
            raise
        email_index = blind_index(self.index_key, org_id, email_lookup_form(draft.email))
        async with self.database.sessions() as session:
            org = await self.org(Repository(session), org_id)
        if org is None:
            raise NotFound("org not found")
        # No look-up first: the unique (org, email index) constraint finds a second sign-up
        # of the same address below, and first sign-ups are the common case.
        member_id = await self.subjects.take(org_id)
        member_language = draft.language or org.language
        sealed = await self.sealer.seal(
            member_id, {"name": draft.name, "email": draft.email, "phone": draft.phone}
        )
        now = datetime.now(UTC)
        event = new_envelope(
            "membership.member-registered",
            events_pb2.MemberRegistered(
                member_id=member_id, org_id=org_id, language=member_language
            ),
            org_id=org_id,
            subject_id=member_id,
        )
        try:
            await self.signups.write(
                member_row(
                    member_id, org_id, sealed, email_index, member_language, STATUS_PENDING, now
                ),
                outbox_row(MEMBER_REGISTERED, event),
                Change(actor, "member.registered", member_id, (*SEALED_FIELDS, "language")).row(
                    org_id, now
                ),
            )
        except IntegrityError as exc:
            # This address is a member already (the reserved id is simply not used).
            async with self.database.sessions() as session:
                winner = await Repository(session).member_id_by_email_index(org_id, email_index)
            REGISTRATIONS_REJECTED.labels("duplicate").inc()
            raise AlreadyExists(f"already a member: {winner}", winner or "") from exc
        self.relay.wake()
        MEMBERS_REGISTERED.inc()
        return MemberView(
            member_id,
            org_id,
            draft.name,
            draft.email,
            draft.phone,
            member_language,
            STATUS_PENDING,
            now,
            org.name,
        )

    async def get_member(self, org_id: str, member_id: str) -> MemberView:
        async with self.database.sessions() as session:
            repo = Repository(session)
            row = await repo.member(org_id, member_id)
            org = await self.org(repo, org_id) if row is not None else None
        if row is None or org is None:
            # Also what another org's member looks like: no hint that it exists.
            raise NotFound(f"member {member_id} not found")
        return await self.view(row, org)

    async def get_contacts(self, refs: list[tuple[str, str]]) -> list[MemberView]:
        """Members by (org id, member id), many at once; the missing are left out."""
        wanted = set(refs)
        async with self.database.sessions() as session:
            repo = Repository(session)
            rows = [
                r
                for r in await repo.members_by_ids(sorted({m for _, m in refs}))
                if (r.org_id, r.id) in wanted
            ]
            orgs = {org_id: await self.org(repo, org_id) for org_id in {r.org_id for r in rows}}
        await self.sealer.prefetch([r.id for r in rows])
        views = []
        for row in rows:
            try:
                views.append(await self.view(row, orgs[row.org_id]))
            except SubjectForgotten:
                continue  # erased between the lookup and now
        return views

    async def view(self, row: Row, org: Row) -> MemberView:
        plain = await self.sealer.unseal(
            row.id, {f: getattr(row, f"{f}_sealed") for f in SEALED_FIELDS}
        )
        return MemberView(
            row.id,
            row.org_id,
            plain["name"],
            plain["email"],
            plain["phone"],
            row.language,
            row.status,
            row.registered_at,
            org.name,
            row.restricted_at is not None,
            tuple(row.objections.split()),
        )
