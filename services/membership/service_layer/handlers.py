"""The core of membership that the other use cases build on: orgs (created, cached as
profiles), API key introspection, and members read and shown (unsealed) one or many at a
time. Personal fields are sealed before they reach the database."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.errors import AlreadyExists, NotFound
from services.common.grpc.auth import ORG_SCOPES, Principal
from services.common.outbox import OutboxRelay
from services.common.sealing import (
    Sealer,
    SubjectForgotten,
    SubjectReservations,
)
from services.membership.adapters import audit
from services.membership.adapters import policies as policy_table
from services.membership.adapters.audit import Change
from services.membership.adapters.member_reader import MemberReader
from services.membership.adapters.repository import Repository
from services.membership.domain import api_keys
from services.membership.domain.guardians import Guardian
from services.membership.domain.orgs import PRIVACY, TERMS, OrgProfile, PolicyState
from services.membership.domain.validation import (
    validate_org,
)
from services.membership.metrics import ORGS_CREATED
from services.membership.service_layer.api_keys import mint_key
from services.membership.service_layer.forms import FormCatalog, PublishedForm

SEALED_FIELDS = ("name", "email", "phone")
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
    membership_type_id: str = ""
    period_start: date | None = None
    period_end: date | None = None
    form: PublishedForm | None = None  # None: the base form
    answers: dict[str, Any] = field(default_factory=dict)
    consents: tuple[str, ...] = ()
    policy_version: int = 0
    terms_version: int = 0
    needs_reconsent: bool = False
    guardian: Guardian | None = None


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
        self.reader = MemberReader(database)
        self.sealer = sealer
        self.subjects = subjects
        self.index_key = index_key
        self.relay = relay
        self.default_language = default_language
        self.forms = FormCatalog(database)
        # Orgs are read on every sign-up and contact lookup and change rarely; another
        # replica's change shows here within the TTL.
        self._orgs: dict[str, tuple[float, OrgProfile]] = {}

    async def org(self, org_id: str, repo: Repository | None = None) -> OrgProfile | None:
        """From the cache when fresh (no database round trip on the hot paths); else read,
        in `repo`'s session if given."""
        cached = self._orgs.get(org_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if repo is None:
            async with self.database.sessions() as session:
                return await self.org(org_id, Repository(session))
        row = await repo.org(org_id)
        if row is None:
            return None
        state = await policy_table.state(repo.session, org_id)
        profile = OrgProfile(
            org_id=row.id,
            name=row.name,
            org_number=row.org_number,
            language=row.language,
            contact_email=row.contact_email,
            contact_phone=row.contact_phone,
            contact_address=row.contact_address,
            privacy=PolicyState(*state.get(PRIVACY, (0, 0))),
            terms=PolicyState(*state.get(TERMS, (0, 0))),
            type_ids=tuple(t.id for t in await repo.membership_types_of(org_id)),
        )
        self._orgs[org_id] = (time.monotonic() + ORG_CACHE_TTL_S, profile)
        return profile

    def forget_org(self, org_id: str) -> None:
        """After a change to the org, its policies or its types."""
        self._orgs.pop(org_id, None)

    async def create_org(self, actor: str, name: str, org_number: str, language: str) -> CreatedOrg:
        draft = validate_org(name, org_number, language or self.default_language)
        org_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        try:
            async with self.database.transaction() as session:
                repo = Repository(session)
                existing = await repo.org_id_by_number(draft.org_number)
                if existing:
                    raise AlreadyExists(f"org {draft.org_number} exists as {existing}", existing)
                await repo.add_org(org_id, draft.name, draft.org_number, draft.language, now)
                await audit.record(
                    session,
                    org_id,
                    Change(actor, "org.created", org_id, ("name", "org_number", "language")),
                )
                _, api_key = await mint_key(
                    session, org_id, actor, ORG_SCOPES, "first key", "api-key.created"
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"org {draft.org_number} already exists") from exc
        ORGS_CREATED.inc()
        return CreatedOrg(org_id, api_key, ORG_SCOPES)

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

    async def get_member(self, org_id: str, member_id: str) -> MemberView:
        row = await self.reader.get(org_id, member_id)
        org = await self.org(org_id) if row is not None else None
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
            orgs = {org_id: await self.org(org_id, repo) for org_id in {r.org_id for r in rows}}
        await self.sealer.prefetch([r.id for r in rows])
        views = []
        for row in rows:
            try:
                views.append(await self.view(row, orgs[row.org_id], with_profile=False))
            except SubjectForgotten:
                continue  # erased between the lookup and now
        return views

    async def view(self, row: Row, org: OrgProfile, with_profile: bool = True) -> MemberView:
        sealed = {f: getattr(row, f"{f}_sealed") for f in SEALED_FIELDS}
        if with_profile and row.profile_sealed is not None:
            sealed["profile"] = row.profile_sealed
        plain = await self.sealer.unseal(row.id, sealed)
        profile = json.loads(plain["profile"]) if "profile" in plain else {}
        guardian = profile.get("guardian")
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
            membership_type_id=row.type_id or "",
            period_start=row.period_start,
            period_end=row.period_end,
            form=await self.forms.by_id(row.org_id, row.form_id)
            if with_profile and row.form_id
            else None,
            answers=profile.get("answers", {}),
            consents=tuple(row.consents.split()),
            policy_version=row.policy_version,
            terms_version=row.terms_version,
            needs_reconsent=org.needs_reconsent(row.policy_version, row.terms_version),
            guardian=Guardian(**guardian) if guardian else None,
        )
