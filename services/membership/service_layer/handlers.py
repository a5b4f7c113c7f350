"""Membership use cases. Each one validates, then changes state and queues its event in one
transaction. Personal fields are sealed before they reach the database."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.grpc.auth import ORG_SCOPES, Principal
from services.common.outbox import OutboxRelay, outbox_row
from services.common.sealing import (
    Sealer,
    SubjectForgotten,
    SubjectReservations,
    blind_index,
)
from services.common.topics import CONSENT_CHANGED, MEMBER_REGISTERED
from services.membership.adapters import audit
from services.membership.adapters import policies as policy_table
from services.membership.adapters.audit import Change
from services.membership.adapters.member_reader import MemberReader
from services.membership.adapters.repository import Repository, member_row
from services.membership.adapters.signup_writer import Signup, SignupWriter
from services.membership.domain import api_keys
from services.membership.domain.forms import DATE_OF_BIRTH, validate_answers, validate_consents
from services.membership.domain.guardians import Guardian, validate_guardian
from services.membership.domain.orgs import PRIVACY, TERMS, OrgProfile, PolicyState
from services.membership.domain.status import PENDING
from services.membership.domain.validation import (
    MemberDraft,
    email_lookup_form,
    validate_member,
    validate_org,
)
from services.membership.metrics import MEMBERS_REGISTERED, ORGS_CREATED, REGISTRATIONS_REJECTED
from services.membership.service_layer.forms import FormCatalog, PublishedForm

SEALED_FIELDS = ("name", "email", "phone")
STATUS_PENDING = PENDING
ORG_CACHE_TTL_S = 30.0
AUDIT_ACTION = {"signup": "member.registered", "import": "member.imported"}
SOURCES = tuple(AUDIT_ACTION)


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


@dataclass(frozen=True)
class SignupRequest:
    name: str
    email: str
    phone: str
    language: str = ""
    form_key: str = ""
    form_version: int = 0
    answers: dict[str, str] = field(default_factory=dict)
    consents: list[str] = field(default_factory=list)
    accepted_policy_version: int = 0
    accepted_terms_version: int = 0
    membership_type_id: str = ""
    guardian: Guardian | None = None
    source: str = "signup"
    validate_only: bool = False


# What a valid sign-up request comes to: the member's draft, the form version answered, its
# answers, the consents given, the guardian (under 15) and the membership type.
ValidSignup = tuple[
    MemberDraft, PublishedForm, dict[str, Any], tuple[str, ...], Guardian | None, str | None
]


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

    async def register_member(self, actor: str, org_id: str, request: SignupRequest) -> MemberView:
        org = await self.org(org_id)
        if org is None:
            raise NotFound("org not found")
        try:
            signup = await self._validate_signup(org, request)
        except Exception:
            REGISTRATIONS_REJECTED.labels("invalid").inc()
            raise
        draft, form, answers, consents, guardian, type_id = signup
        email_index = blind_index(self.index_key, org_id, email_lookup_form(draft.email))
        member_language = draft.language or org.language
        now = datetime.now(UTC)
        if request.validate_only:
            async with self.database.sessions() as session:
                existing = await Repository(session).member_id_by_email_index(org_id, email_index)
            if existing:
                raise AlreadyExists(f"already a member: {existing}", existing)
            member_id = ""
        else:
            member_id = await self._write_signup(
                actor, org, request, signup, email_index, member_language, now
            )
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
            membership_type_id=type_id or "",
            form=form if form.form_id else None,
            answers=answers,
            consents=consents,
            policy_version=request.accepted_policy_version,
            terms_version=request.accepted_terms_version,
            guardian=guardian,
        )

    async def _validate_signup(self, org: OrgProfile, request: SignupRequest) -> ValidSignup:
        """Every check at once, so that one answer names every bad field."""
        errors: dict[str, str] = {}

        def attempt(check, *args):  # type: ignore[no-untyped-def]
            try:
                return check(*args)
            except InvalidArgument as exc:
                errors.update(exc.field_errors)
                return None

        today = datetime.now(UTC).date()
        draft = attempt(
            validate_member, request.name, request.email, request.phone, request.language
        )
        try:
            form = await self.forms.get(org.org_id, request.form_key, request.form_version)
        except NotFound as exc:
            raise InvalidArgument({"form_key": str(exc)}) from exc
        answers = attempt(validate_answers, form.definition, dict(request.answers), today) or {}
        consents = attempt(validate_consents, form.definition, list(request.consents)) or ()
        guardian = attempt(validate_guardian, request.guardian, answers.get(DATE_OF_BIRTH), today)
        if request.source not in SOURCES:
            errors["source"] = f"one of {', '.join(SOURCES)}"
        elif request.source == "signup":
            # An import brings members who accepted elsewhere, before the org came here.
            errors.update(
                org.acceptance_errors(
                    request.accepted_policy_version, request.accepted_terms_version
                )
            )
        type_id = request.membership_type_id or None
        if type_id is None and len(org.type_ids) > 1:
            errors["membership_type_id"] = "required: the org has several membership types"
        elif type_id is None and org.type_ids:
            type_id = org.type_ids[0]
        elif type_id is not None and type_id not in org.type_ids:
            errors["membership_type_id"] = "not a membership type of this org"
        if errors:
            raise InvalidArgument(errors)
        return draft, form, answers, consents, guardian, type_id

    async def _write_signup(
        self,
        actor: str,
        org: OrgProfile,
        request: SignupRequest,
        signup: ValidSignup,
        email_index: str,
        language: str,
        now: datetime,
    ) -> str:
        draft, form, answers, consents, guardian, type_id = signup
        org_id = org.org_id
        # No look-up first: the unique (org, email index) constraint finds a second sign-up
        # of the same address below, and first sign-ups are the common case.
        member_id = await self.subjects.take(org_id)
        personal = {"name": draft.name, "email": draft.email, "phone": draft.phone}
        if answers or guardian:
            personal["profile"] = json.dumps(
                {"answers": answers, "guardian": asdict(guardian) if guardian else None}
            )
        sealed = await self.sealer.seal(member_id, personal)
        events = [
            outbox_row(
                MEMBER_REGISTERED,
                new_envelope(
                    "membership.member-registered",
                    events_pb2.MemberRegistered(
                        member_id=member_id, org_id=org_id, language=language
                    ),
                    org_id=org_id,
                    subject_id=member_id,
                ),
            )
        ]
        source = "guardian" if guardian else request.source
        consent_rows = []
        for purpose in consents:
            consent_rows.append(
                consent_row(org_id, member_id, purpose, True, now, source, org.privacy.current)
            )
            events.append(
                outbox_row(
                    CONSENT_CHANGED,
                    consent_event(org_id, member_id, purpose, True, source, org.privacy.current),
                )
            )
        fields = (*SEALED_FIELDS, "language", *(["answers"] if answers else []))
        try:
            await self.signups.write(
                Signup(
                    member_row(
                        member_id,
                        org_id,
                        sealed,
                        email_index,
                        language,
                        STATUS_PENDING,
                        now,
                        type_id=type_id,
                        form_id=form.form_id or None,
                        policy_version=request.accepted_policy_version,
                        terms_version=request.accepted_terms_version,
                        consents=consents,
                    ),
                    events,
                    Change(actor, AUDIT_ACTION[request.source], member_id, fields).row(org_id, now),
                    consent_rows,
                )
            )
        except IntegrityError as exc:
            # This address is a member already (the reserved id is simply not used).
            async with self.database.sessions() as session:
                winner = await Repository(session).member_id_by_email_index(org_id, email_index)
            REGISTRATIONS_REJECTED.labels("duplicate").inc()
            raise AlreadyExists(f"already a member: {winner}", winner or "") from exc
        return member_id

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


def consent_row(
    org_id: str,
    member_id: str,
    purpose: str,
    granted: bool,
    at: datetime,
    source: str,
    policy_version: int,
) -> dict[str, object]:
    return {
        "org_id": org_id,
        "member_id": member_id,
        "purpose": purpose,
        "granted": granted,
        "at": at,
        "source": source,
        "policy_version": policy_version,
    }


def consent_event(
    org_id: str, member_id: str, purpose: str, granted: bool, source: str, policy_version: int
) -> Envelope:
    return new_envelope(
        "membership.consent-changed",
        events_pb2.ConsentChanged(
            member_id=member_id,
            org_id=org_id,
            purpose=purpose,
            granted=granted,
            source=source,
            policy_version=policy_version,
        ),
        org_id=org_id,
        subject_id=member_id,
    )
