"""Sign-up (innmelding): a request is checked against the org's form version, policy versions
and membership types, all at once, then written with its consents, its events and its audit
entry by the group-commit writer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from membership.v1 import events_pb2
from sqlalchemy.exc import IntegrityError

from services.common.envelope import new_envelope
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.outbox import outbox_row
from services.common.sealing import blind_index
from services.common.topics import CONSENT_CHANGED, MEMBER_REGISTERED
from services.membership.adapters.audit import Change
from services.membership.adapters.consents import consent_row
from services.membership.adapters.repository import Repository, member_row
from services.membership.adapters.signup_writer import Signup, SignupWriter
from services.membership.domain.forms import DATE_OF_BIRTH, validate_answers, validate_consents
from services.membership.domain.guardians import Guardian, validate_guardian
from services.membership.domain.orgs import OrgProfile
from services.membership.domain.status import PENDING
from services.membership.domain.validation import MemberDraft, email_lookup_form, validate_member
from services.membership.metrics import MEMBERS_REGISTERED, REGISTRATIONS_REJECTED
from services.membership.service_layer.consents import consent_event
from services.membership.service_layer.forms import PublishedForm
from services.membership.service_layer.handlers import (
    SEALED_FIELDS,
    MembershipHandlers,
    MemberView,
)

AUDIT_ACTION = {"signup": "member.registered", "import": "member.imported"}
SOURCES = tuple(AUDIT_ACTION)
ERASED_NOT_REIMPORTED = "erased at the member's request; not re-imported"


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


@dataclass(frozen=True)
class ValidSignup:
    """What a valid sign-up request comes to."""

    draft: MemberDraft
    form: PublishedForm  # the version answered
    answers: dict[str, Any]
    consents: tuple[str, ...]
    guardian: Guardian | None  # under 15 only
    type_id: str | None
    email_index: str
    language: str


class Signups:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database
        self.writer = SignupWriter(handlers.database)

    async def register(self, actor: str, org_id: str, request: SignupRequest) -> MemberView:
        org = await self.handlers.org(org_id)
        if org is None:
            raise NotFound("org not found")
        try:
            signup = await self._validate(org, request)
        except Exception:
            REGISTRATIONS_REJECTED.labels("invalid").inc()
            raise
        if request.source == "import" and await self._erased(org_id, signup.email_index):
            # A sign-up of the same address is a new person, by their own choice; an import
            # (or sync) is the org bringing back someone who asked to be forgotten.
            REGISTRATIONS_REJECTED.labels("erased").inc()
            raise InvalidArgument({"email": ERASED_NOT_REIMPORTED})
        now = datetime.now(UTC)
        if request.validate_only:
            existing = await self._member_with(org_id, signup.email_index)
            if existing:
                raise existing
            member_id = ""
        else:
            member_id = await self._write(actor, org, request, signup, now)
            self.handlers.relay.wake()
            MEMBERS_REGISTERED.inc()
        return MemberView(
            member_id,
            org_id,
            signup.draft.name,
            signup.draft.email,
            signup.draft.phone,
            signup.language,
            PENDING,
            now,
            org.name,
            membership_type_id=signup.type_id or "",
            form=signup.form if signup.form.form_id else None,
            answers=signup.answers,
            consents=signup.consents,
            policy_version=request.accepted_policy_version,
            terms_version=request.accepted_terms_version,
            guardian=signup.guardian,
        )

    async def _erased(self, org_id: str, email_index: str) -> bool:
        async with self.database.sessions() as session:
            return await Repository(session).address_erased(org_id, email_index)

    async def _member_with(self, org_id: str, email_index: str) -> AlreadyExists | None:
        """ALREADY_EXISTS naming the member who has this address, if one has."""
        async with self.database.sessions() as session:
            existing = await Repository(session).member_id_by_email_index(org_id, email_index)
        return AlreadyExists(f"already a member: {existing}", existing) if existing else None

    async def _validate(self, org: OrgProfile, request: SignupRequest) -> ValidSignup:
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
            form = await self.handlers.forms.get(org.org_id, request.form_key, request.form_version)
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
                    request.accepted_policy_version, request.accepted_terms_version, "accepted_"
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
        return ValidSignup(
            draft,
            form,
            answers,
            consents,
            guardian,
            type_id,
            blind_index(self.handlers.index_key, org.org_id, email_lookup_form(draft.email)),
            draft.language or org.language,
        )

    async def _write(
        self,
        actor: str,
        org: OrgProfile,
        request: SignupRequest,
        signup: ValidSignup,
        now: datetime,
    ) -> str:
        draft, answers, guardian = signup.draft, signup.answers, signup.guardian
        org_id = org.org_id
        # No look-up first: the unique (org, email index) constraint finds a second sign-up
        # of the same address below, and first sign-ups are the common case.
        member_id = await self.handlers.subjects.take(org_id)
        personal = {"name": draft.name, "email": draft.email, "phone": draft.phone}
        if answers or guardian:
            personal["profile"] = json.dumps(
                {"answers": answers, "guardian": asdict(guardian) if guardian else None}
            )
        sealed = await self.handlers.sealer.seal(member_id, personal)
        events = [
            outbox_row(
                MEMBER_REGISTERED,
                new_envelope(
                    "membership.member-registered",
                    events_pb2.MemberRegistered(
                        member_id=member_id,
                        org_id=org_id,
                        language=signup.language,
                        membership_type_id=signup.type_id or "",
                    ),
                    org_id=org_id,
                    subject_id=member_id,
                ),
            )
        ]
        source = "guardian" if guardian else request.source
        consent_rows = []
        for purpose in signup.consents:
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
            await self.writer.write(
                Signup(
                    member_row(
                        member_id,
                        org_id,
                        sealed,
                        signup.email_index,
                        signup.language,
                        PENDING,
                        now,
                        type_id=signup.type_id,
                        form_id=signup.form.form_id or None,
                        policy_version=request.accepted_policy_version,
                        terms_version=request.accepted_terms_version,
                        consents=signup.consents,
                    ),
                    events,
                    Change(actor, AUDIT_ACTION[request.source], member_id, fields).row(org_id, now),
                    consent_rows,
                )
            )
        except IntegrityError as exc:
            # This address is a member already (the reserved id is simply not used).
            REGISTRATIONS_REJECTED.labels("duplicate").inc()
            raise (
                await self._member_with(org_id, signup.email_index)
                or AlreadyExists("already a member")
            ) from exc
        return member_id
