"""Consents per purpose: granted and withdrawn with time, source and the policy version in
force, kept as a history. Withdrawing is always possible and as easy as granting (art. 7(3))."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2

from services.common.envelope import new_envelope
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.common.outbox import add_event
from services.common.topics import CONSENT_CHANGED
from services.membership.adapters import audit
from services.membership.adapters import consents as consent_table
from services.membership.adapters.audit import Change
from services.membership.adapters.consents import INSERT_CONSENT, consent_row
from services.membership.adapters.repository import Repository
from services.membership.metrics import CONSENT_CHANGES
from services.membership.service_layer.handlers import MembershipHandlers

API_SOURCES = ("member", "admin", "unsubscribe", "guardian")
# What other services (notify) may withdraw a consent for, on the member's behalf.
SERVICE_SOURCES = ("unsubscribe", "spam-report", "sms-stop")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


@dataclass(frozen=True)
class ConsentChange:
    purpose: str
    granted: bool
    at: datetime
    source: str
    policy_version: int


@dataclass(frozen=True)
class ConsentState:
    granted: tuple[str, ...]
    history: list[ConsentChange]


class ConsentRegister:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def set(
        self,
        caller: Principal,
        member_id: str,
        purpose: str,
        granted: bool,
        source: str,
        org_id: str = "",
    ) -> ConsentState:
        """An org changes its member's consent; a service (`org_id` given) only withdraws."""
        source = source or "member"
        sources = API_SOURCES if caller.kind == "org" else SERVICE_SOURCES
        errors = {}
        if not _PURPOSE.match(purpose):
            errors["purpose"] = "a purpose key, e.g. newsletter"
        if source not in sources:
            errors["source"] = f"one of {', '.join(sources)}"
        if caller.kind != "org" and granted:
            errors["granted"] = "a service may only withdraw a consent"
        if errors:
            raise InvalidArgument(errors)
        org_id = caller.org_id if caller.kind == "org" else org_id
        if not org_id:
            raise InvalidArgument({"org_id": "required"})
        if granted and purpose not in await self.handlers.forms.purposes_of(org_id):
            raise InvalidArgument({"purpose": "not a consent purpose this org's forms ask for"})
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            repo = Repository(session)
            row = await repo.member(org_id, member_id)
            if row is None:
                raise NotFound(f"member {member_id} not found")
            current = set(row.consents.split())
            if (purpose in current) != granted:
                org = await self.handlers.org(org_id, repo)
                version = org.privacy.current if org else 0
                new = sorted(current | {purpose} if granted else current - {purpose})
                await repo.update_member(org_id, member_id, {"consents": " ".join(new)})
                await session.execute(
                    INSERT_CONSENT,
                    consent_row(org_id, member_id, purpose, granted, now, source, version),
                )
                await add_event(
                    session,
                    CONSENT_CHANGED,
                    consent_event(org_id, member_id, purpose, granted, source, version),
                )
                await audit.record(
                    session,
                    org_id,
                    Change(
                        caller.actor,
                        "member.consent-granted" if granted else "member.consent-withdrawn",
                        member_id,
                        ("consents",),
                    ),
                )
                CONSENT_CHANGES.labels("granted" if granted else "withdrawn", source).inc()
        self.handlers.relay.wake()
        return await self.state(org_id, member_id)

    async def state(self, org_id: str, member_id: str) -> ConsentState:
        async with self.database.sessions() as session:
            row = await Repository(session).member(org_id, member_id)
            if row is None:
                raise NotFound(f"member {member_id} not found")
            rows = await consent_table.history(session, org_id, member_id)
        return ConsentState(
            tuple(row.consents.split()),
            [ConsentChange(r.purpose, r.granted, r.at, r.source, r.policy_version) for r in rows],
        )


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
