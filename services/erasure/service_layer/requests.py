"""Data-subject request use cases for an org's admins: file, read, list, verify the identity,
extend the deadline, read the certificate. A verified erasure is announced on
privacy.erasure-requested.v1 in the same transaction (outbox); a verified restriction,
objection, access or portability request gets its one task in that transaction, for its
runner to apply (an access or portability request also its archive's password, sealed).

The admin's free text (the identity attestation, the extension's reason) may name the member
or their documents, so it is stored sealed with the member's key, as text: SEALED_PREFIX and
the sealed bytes in base64. Reads open it while the key lives; after the erasure shreds the
key it reads as UNREADABLE. Rows written before sealing are sealed by `seal_free_text`, run
at start."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from privacy.v1 import events_pb2
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from services.common.grpc.auth import Principal
from services.common.outbox import add_event
from services.common.sealing import seal_with, unseal_with
from services.common.timestamps import as_utc
from services.common.topics import ERASURE_REQUESTED
from services.erasure.adapters.orm import privacy_requests
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.domain.exports import PASSWORD_FIELD, new_password
from services.erasure.domain.plan import PENDING
from services.erasure.service_layer.keyring import IssuedKey, Keyring

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_ID = 36
MAX_METHOD = 50
SEALED_PREFIX = "sealed:"
UNREADABLE = "(unreadable: the member's key was shredded)"
FREE_TEXT = ("identity_attestation", "extension_reason")


class Contacts(Protocol):
    async def email_of(self, org_id: str, member_id: str) -> str | None: ...


@dataclass(frozen=True)
class RequestView:
    request: Row
    history: list[Row]
    tasks: list[Row]
    # An access or portability archive's password: in VerifyIdentity's answer only.
    archive_password: str = ""
    # FREE_TEXT opened: column -> text ("" when none, UNREADABLE once the key is shredded).
    free_text: dict[str, str] = field(default_factory=dict)


def sealed_text(key: bytes, subject_id: str, column: str, value: str) -> str:
    return SEALED_PREFIX + base64.b64encode(seal_with(key, subject_id, column, value)).decode()


def opened_text(key: IssuedKey | None, subject_id: str, column: str, stored: str | None) -> str:
    if not stored:
        return ""
    if not stored.startswith(SEALED_PREFIX):
        return stored  # written before sealing, not yet sealed by seal_free_text
    if key is None:
        return UNREADABLE
    return unseal_with(key.key, subject_id, column, base64.b64decode(stored[len(SEALED_PREFIX) :]))


def _required(value: str, limit: int) -> str | None:
    if not value.strip():
        return "required"
    return f"at most {limit} characters" if len(value) > limit else None


class PrivacyRequests:
    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        contacts: Contacts,
        on_committed: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.keyring = keyring
        self.contacts = contacts
        self.on_committed = on_committed
        self.now = now

    async def file(
        self, who: Principal, subject_id: str, type_: str, purpose: str = ""
    ) -> RequestView:
        errors = {}
        if problem := _required(subject_id, MAX_ID):
            errors["subject_id"] = problem
        if type_ not in rules.TYPES:
            errors["type"] = f"one of {', '.join(rules.TYPES)}"
        elif problem := rules.purpose_problem(type_, purpose):
            errors["purpose"] = problem
        if errors:
            raise InvalidArgument(errors)
        state = await self.keyring.state(subject_id)
        if state is None or state.org_id != who.org_id:
            raise NotFound(f"no member {subject_id}")
        if state.shredded_at is not None:
            raise FailedPrecondition(f"member {subject_id} was already erased")
        received = self.now()
        due = rules.due_date(received)
        values = {
            "id": str(uuid.uuid4()),
            "org_id": who.org_id,
            "subject_id": subject_id,
            "type": type_,
            "status": rules.RECEIVED,
            "filed_by": who.actor,
            "received_at": received,
            "original_due_date": due,
            "due_date": due,
            "extended_months": 0,
            "purpose": purpose or None,
        }

        async def add(session: AsyncSession) -> RequestView:
            repo = RequestRepository(session)
            existing = await repo.open_of_subject(who.org_id, subject_id, type_, purpose or None)
            if existing is not None:
                raise AlreadyExists(f"an open {type_} request exists: {existing.id}", existing.id)
            await repo.add(values)
            await repo.record(values, rules.RECEIVED, received, who.actor)
            return await _read(repo, values["id"], who.org_id)

        # Filing and its answer are short indexed statements: on a SQLite file, on the loop
        # itself (Database.in_transaction), read back in the same transaction.
        return (self._with_text([await self.database.in_transaction(add)], {}))[0]

    async def get(self, org_id: str, request_id: str) -> RequestView:
        if problem := _required(request_id, MAX_ID):
            raise InvalidArgument({"request_id": problem})

        async def read(session: AsyncSession) -> RequestView:
            return await _read(RequestRepository(session), request_id, org_id)

        return (await self._opened([await self.database.in_transaction(read)]))[0]

    async def _opened(self, views: list[RequestView]) -> list[RequestView]:
        """The views with their free text opened (one key lookup for all)."""
        sealed = {
            v.request.subject_id
            for v in views
            for c in FREE_TEXT
            if (getattr(v.request, c) or "").startswith(SEALED_PREFIX)
        }
        return self._with_text(views, await self.keyring.get_many(sorted(sealed)) if sealed else {})

    def _with_text(self, views: list[RequestView], keys: dict[str, IssuedKey]) -> list[RequestView]:
        """The views with their free text opened with these keys (subject -> key)."""
        return [
            RequestView(
                v.request,
                v.history,
                v.tasks,
                v.archive_password,
                {
                    c: opened_text(
                        keys.get(v.request.subject_id),
                        v.request.subject_id,
                        c,
                        getattr(v.request, c),
                    )
                    for c in FREE_TEXT
                },
            )
            for v in views
        ]

    async def list(
        self, org_id: str, status: str, type_: str, page_size: int, page_token: str
    ) -> tuple[list[RequestView], str]:
        errors = {}
        if status and status not in rules.STATUSES:
            errors["status"] = f"one of {', '.join(rules.STATUSES)}"
        if type_ and type_ not in rules.TYPES:
            errors["type"] = f"one of {', '.join(rules.TYPES)}"
        if not 0 <= page_size <= MAX_PAGE:
            errors["page_size"] = f"between 1 and {MAX_PAGE} (0: {DEFAULT_PAGE})"
        # An offset this service issued: ASCII digits ("²".isdigit() holds too), and small.
        if page_token and not (
            page_token.isascii() and page_token.isdigit() and len(page_token) < 10
        ):
            errors["page_token"] = "not a token this service issued"
        if errors:
            raise InvalidArgument(errors)
        size, offset = page_size or DEFAULT_PAGE, int(page_token or 0)
        async with self.database.sessions() as session:
            repo = RequestRepository(session)
            rows = await repo.page(org_id, status, type_, offset, size + 1)
            views = [
                RequestView(r, await repo.history(r.id), await repo.tasks(r.id))
                for r in rows[:size]
            ]
        return await self._opened(views), str(offset + size) if len(rows) > size else ""

    async def verify_identity(
        self, who: Principal, request_id: str, method: str, attestation: str
    ) -> RequestView:
        errors = {}
        if problem := _required(method, MAX_METHOD):
            errors["method"] = problem
        if problem := _required(attestation, rules.MAX_TEXT):
            errors["attestation"] = problem
        if errors:
            raise InvalidArgument(errors)
        if problem := _required(request_id, MAX_ID):
            raise InvalidArgument({"request_id": problem})

        async def read(session: AsyncSession) -> Row | None:
            return await RequestRepository(session).get(request_id, who.org_id)

        request = await self.database.in_transaction(read)
        if request is None:
            raise NotFound(f"no request {request_id}")
        rules.require_transition(request.status, rules.IDENTITY_VERIFIED)
        key = await self.keyring.get(request.subject_id)
        email = (
            await self.contacts.email_of(request.org_id, request.subject_id)
            if request.type == "erasure"
            else None
        )
        # SendGrid's erasure asks for the address: taken now, before membership forgets it,
        # and sealed with the member's own key, which the erasure shreds last.
        sealed = _sealed(key, request.subject_id, "email", email)
        password = new_password() if request.type in rules.EXPORT_TYPES else ""
        sealed_password = _sealed(key, request.subject_id, PASSWORD_FIELD, password)
        sealed_attestation = sealed_text(
            key.key, request.subject_id, "identity_attestation", attestation.strip()
        )
        at = self.now()

        async def verify(session: AsyncSession) -> RequestView:
            repo = RequestRepository(session)
            # Conditional: of two concurrent verifications (two replicas) one changes it.
            changed = await repo.change_from(
                request_id,
                request.status,
                status=rules.IDENTITY_VERIFIED,
                identity_method=method.strip(),
                identity_attestation=sealed_attestation,
                identity_verified_by=who.actor,
                identity_verified_at=at,
                sealed_email=sealed,
                sealed_password=sealed_password,
            )
            if not changed:
                raise FailedPrecondition(f"request {request_id} changed meanwhile; try again")
            await repo.record(request, rules.IDENTITY_VERIFIED, at, who.actor, method.strip())
            if target := rules.one_task_of(request.type):
                await repo.add_tasks(
                    [
                        {
                            "request_id": request_id,
                            "target": target,
                            "org_id": request.org_id,
                            "position": 0,
                            "status": PENDING,
                            "attempts": 0,
                            "next_attempt_at": at,
                        }
                    ]
                )
                await repo.change(request_id, status=rules.IN_PROGRESS)
                await repo.record(request, rules.IN_PROGRESS, at, "service", f"plan: {target}")
            elif request.type == "erasure":
                await add_event(
                    session,
                    ERASURE_REQUESTED,
                    new_envelope(
                        "privacy.erasure-requested",
                        events_pb2.ErasureRequested(request_id=request_id),
                        org_id=request.org_id,
                        subject_id=request.subject_id,
                    ),
                )
            return await _read(repo, request_id, who.org_id)

        verified = await self.database.in_transaction(verify)
        self.on_committed()
        opened = self._with_text([verified], {request.subject_id: key})[0]
        return RequestView(opened.request, opened.history, opened.tasks, password, opened.free_text)

    async def extend(
        self, who: Principal, request_id: str, months: int, reason: str, member_told: bool
    ) -> RequestView:
        request = (await self.get(who.org_id, request_id)).request
        at = self.now()
        extension = rules.extend(
            received_on=rules.oslo_date(as_utc(request.received_at)),
            already_extended=request.extended_months,
            status=request.status,
            months=months,
            reason=reason,
            member_told=member_told,
            today=rules.oslo_date(at),
        )
        key = await self.keyring.get(request.subject_id)
        reason_sealed = sealed_text(
            key.key, request.subject_id, "extension_reason", extension.reason
        )
        async with self.database.transaction() as session:
            repo = RequestRepository(session)
            if not await repo.extend_once(
                request_id,
                due_date=extension.new_due_date,
                extended_months=extension.months,
                extension_reason=reason_sealed,
                member_told_at=at,
            ):
                raise FailedPrecondition(f"request {request_id} was extended meanwhile")
            note = f"deadline extended by {months} month(s) to {extension.new_due_date}"
            await repo.record(request, request.status, at, who.actor, note)
        return await self.get(who.org_id, request_id)

    async def certificate(self, org_id: str, request_id: str) -> tuple[Row, list[Row]]:
        request = (await self.get(org_id, request_id)).request
        if request.status != rules.COMPLETED:
            raise FailedPrecondition(
                f"request {request_id} is {request.status}: no certificate yet"
            )
        async with self.database.sessions() as session:
            return request, await RequestRepository(session).certificate(request_id)


async def _read(repo: RequestRepository, request_id: str, org_id: str) -> RequestView:
    found = await repo.get(request_id, org_id)
    if found is None:
        raise NotFound(f"no request {request_id}")
    return RequestView(found, await repo.history(request_id), await repo.tasks(request_id))


def _sealed(key: IssuedKey, subject_id: str, field: str, value: str | None) -> bytes | None:
    return seal_with(key.key, subject_id, field, value) if value else None


async def seal_free_text(database: Database, keyring: Keyring) -> int:
    """Seals the free text of requests written before it was sealed; where the member's key
    is already shredded, the text is dropped (the member was erased). Returns the requests
    changed."""
    R = privacy_requests.c
    async with database.sessions() as session:
        rows = (
            await session.execute(
                select(R.id, R.subject_id, *(getattr(R, c) for c in FREE_TEXT)).where(
                    or_(
                        *(
                            getattr(R, c).is_not(None) & getattr(R, c).not_like(f"{SEALED_PREFIX}%")
                            for c in FREE_TEXT
                        )
                    )
                )
            )
        ).all()
    if not rows:
        return 0
    keys = await keyring.get_many(sorted({row.subject_id for row in rows}))
    async with database.transaction() as session:
        for row in rows:
            key = keys.get(row.subject_id)
            values = {
                c: sealed_text(key.key, row.subject_id, c, text) if key else None
                for c in FREE_TEXT
                if (text := getattr(row, c)) and not text.startswith(SEALED_PREFIX)
            }
            # Only if still as read: a request changed meanwhile keeps its (sealed) text.
            await session.execute(
                update(privacy_requests)
                .where(R.id == row.id, *(getattr(R, c) == getattr(row, c) for c in values))
                .values(**values)
            )
    return len(rows)
