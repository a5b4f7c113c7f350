"""Telling every org when the sub-processor list changes (GDPR art. 28(2) and (4)).

An org is not a member: it has no key in the keyring, and its notice is not a member's
message. So notices to orgs bypass the member message log. The consumer records the
announcement (kind, version) in the event's transaction; a loop then emails each org's
contact, fetched from membership at send time (ListOrgContacts), in the org's language, with
the list as the erasure service gives it now (ListSubprocessors). What is kept is one
delivery record per (kind, version, org): status, attempts and the provider's id, with no
address and no text, so nothing needs sealing. The record is written (`sending`) before the
provider is called; a record found `sending` (a crash, a timeout) is looked up at the
provider before it is sent again, so each org gets one email per version through
redeliveries and restarts. An announcement is `done` once every org was told or could not
be (no contact email, a permanent refusal); until then each round tries the rest again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from events.v1.envelope_pb2 import Envelope
from membership.v1 import membership_pb2
from privacy.v1 import events_pb2
from privacy.v1 import subprocessors_pb2 as sp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.db.upsert import insert_ignore
from services.common.envelope import unpack
from services.common.logging import get_logger
from services.notify.adapters.orm import org_announcements, org_notices
from services.notify.adapters.templates import render_org_notice
from services.notify.domain.content import EMAIL, day, language_of
from services.notify.domain.delivery import PERMANENT, OutgoingEmail, ProviderFailure
from services.notify.domain.messages import TRANSACTIONAL, message_id
from services.notify.metrics import ORG_NOTICES
from services.notify.service_layer.dispatch.providers import EmailProvider

log = get_logger(__name__)

SUBPROCESSORS_CHANGED = "subprocessors-changed"
# An announcement's states.
PENDING, DONE, SUPERSEDED = "pending", "done", "superseded"
# A delivery record's states; SENDING is the only one tried again.
SENDING, SENT, FAILED, NO_ADDRESS = "sending", "sent", "failed", "no-address"
GAVE_UP = "gave-up"

A = org_announcements.c
N = org_notices.c


class OrgContacts(Protocol):
    def org_contacts(self) -> AsyncIterator[membership_pb2.OrgContact]: ...


class SubprocessorSource(Protocol):
    async def current(self) -> sp.SubprocessorList: ...


@dataclass
class Round:
    """What one pass over the orgs did, by outcome (the metric's labels)."""

    counts: dict[str, int]
    complete: bool  # no org is left to try again


def notice_id(kind: str, version: int, org_id: str) -> str:
    """The provider's custom arg: the same on every attempt, so a lookup finds an earlier one."""
    return message_id(f"{org_id}/{version}", kind, EMAIL)


def subprocessor_values(found: sp.SubprocessorList, language: str) -> dict[str, Any]:
    return {
        "version": found.version,
        "last_changed": day(found.last_changed, language),
        "subprocessors": [
            {
                "name": s.name,
                "purpose": s.purpose,
                "location": s.location,
                "transfer_basis": s.transfer_basis,
                "dpa_url": s.dpa_url,
            }
            for s in found.subprocessors
        ],
    }


class OrgNotices:
    def __init__(
        self,
        database: Database,
        orgs: OrgContacts,
        subprocessors: SubprocessorSource,
        email: EmailProvider,
        *,
        max_attempts: int = 8,
        retry_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.orgs = orgs
        self.subprocessors = subprocessors
        self.email = email
        self.max_attempts = max_attempts
        self.retry_s = retry_s
        self.clock = clock
        self._heard = False
        self._wakeup = asyncio.Event()

    async def on_subprocessors_changed(self, session: AsyncSession, envelope: Envelope) -> None:
        """Consumer of privacy.subprocessors-changed.v1: records the announcement with the
        inbox record; the loop sends once the batch has committed (`committed`)."""
        changed = unpack(envelope, events_pb2.SubprocessorsChanged)
        row = {
            "kind": SUBPROCESSORS_CHANGED,
            "version": changed.version,
            "previous_version": changed.previous_version,
            "status": PENDING,
            "received_at": self.clock(),
        }
        await insert_ignore(session, org_announcements, row, ["kind", "version"])
        self._heard = True

    def committed(self) -> None:
        """After a consumer batch commits: wake the loop if an announcement came with it."""
        if self._heard:
            self._heard = False
            self._wakeup.set()

    async def round(self) -> None:
        """One turn of the loop (run back to back): every pending announcement, then wait for
        a new one or `retry_s` (orgs left to try again)."""
        self._wakeup.clear()
        try:
            await self.run_pending()
        except Exception as exc:  # membership or erasure unreachable: the next round retries
            log.warning("org_announcements_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.retry_s)

    async def run_pending(self) -> None:
        async with self.database.sessions() as session:
            pending = (
                await session.execute(
                    select(A.kind, A.version, A.previous_version)
                    .where(A.status == PENDING)
                    .order_by(A.version)
                )
            ).all()
        for kind, version, previous_version in pending:
            await self.announce(kind, version, previous_version)

    async def announce(self, kind: str, version: int, previous_version: int) -> Round | None:
        """Tells every org of one announcement; None when it was not for now."""
        found = await self.subprocessors.current()
        if found.version > version:
            # A newer list is out: its own event tells the orgs, with the list they need.
            await self._finish(kind, version, SUPERSEDED)
            log.info("org_announcement_superseded", kind=kind, version=version)
            return None
        if found.version < version:
            return None  # the erasure service answering is behind the event: later
        result = Round({}, complete=True)
        async for org in self.orgs.org_contacts():
            outcome = await self._tell(kind, version, previous_version, org, found)
            if outcome is None:
                continue  # told before
            result.counts[outcome] = result.counts.get(outcome, 0) + 1
            ORG_NOTICES.labels(kind, outcome).inc()
            if outcome == SENDING:
                result.complete = False
        if result.complete:
            await self._finish(kind, version, DONE)
        log.info(
            "org_announcement_round",
            kind=kind,
            version=version,
            complete=result.complete,
            **result.counts,
        )
        return result

    async def _finish(self, kind: str, version: int, status: str) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                update(org_announcements)
                .where(A.kind == kind, A.version == version, A.status == PENDING)
                .values(status=status, finished_at=self.clock())
            )

    async def _tell(
        self,
        kind: str,
        version: int,
        previous_version: int,
        org: membership_pb2.OrgContact,
        found: sp.SubprocessorList,
    ) -> str | None:
        """The org's outcome this round (SENT, FAILED, NO_ADDRESS, or SENDING: to try
        again), None when it was settled before."""
        key = {"kind": kind, "version": version, "org_id": org.org_id}
        mid = notice_id(kind, version, org.org_id)
        async with self.database.transaction() as session:
            await insert_ignore(
                session,
                org_notices,
                {
                    **key,
                    "message_id": mid,
                    "status": SENDING,
                    "attempts": 0,
                    "updated_at": self.clock(),
                },
                ["kind", "version", "org_id"],
            )
            record = (
                await session.execute(
                    select(N.status, N.attempts).where(
                        N.kind == kind, N.version == version, N.org_id == org.org_id
                    )
                )
            ).one()
            if record.status != SENDING:
                return None
            if not org.contact_email:
                await self._record(session, key, NO_ADDRESS, record.attempts)
                return NO_ADDRESS
            attempts = record.attempts + 1
            # Counted before the call: a crash during it leaves a record that asks first.
            await self._record(session, key, SENDING, attempts)
        try:
            ref = await self.email.lookup(mid) if attempts > 1 else None
            if ref is None:
                language = language_of(org.language)
                rendered = render_org_notice(
                    kind,
                    language,
                    {
                        "org_name": org.name,
                        "previous_version": previous_version,
                        **subprocessor_values(found, language),
                    },
                )
                ref = await self.email.send(
                    OutgoingEmail(
                        message_id=mid,
                        org_id=org.org_id,
                        member_id="",
                        to=org.contact_email,
                        subject=rendered.subject,
                        text=rendered.text,
                        html=rendered.html,
                        purpose="platform-notice",
                        message_class=TRANSACTIONAL,
                    )
                )
        except ProviderFailure as failure:
            permanent = failure.kind == PERMANENT
            status = FAILED if permanent or attempts >= self.max_attempts else SENDING
            code = failure.code if permanent or status == SENDING else GAVE_UP
            async with self.database.transaction() as session:
                await self._record(session, key, status, attempts, error=code)
            log.warning("org_notice_failed", kind=kind, org_id=org.org_id, code=code)
            return status
        async with self.database.transaction() as session:
            await self._record(session, key, SENT, attempts, provider_ref=ref)
        return SENT

    async def _record(
        self,
        session: AsyncSession,
        key: dict[str, Any],
        status: str,
        attempts: int,
        *,
        error: str | None = None,
        provider_ref: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "last_error": error[:100] if error else None,
            "updated_at": self.clock(),
        }
        if provider_ref is not None:
            values["provider"] = self.email.name
            values["provider_ref"] = provider_ref[:100]
        await session.execute(
            update(org_notices)
            .where(N.kind == key["kind"], N.version == key["version"], N.org_id == key["org_id"])
            .values(**values)
        )
