"""The dispatcher: hands queued messages to their provider, and never sends one twice.

A message row is written QUEUED (the intent) before any provider hears of it. The dispatcher
picks due rows (QUEUED, RETRY or UNKNOWN whose next_attempt_at has come), claims each with a
compare-and-set (status SENDING, attempts + 1, committed) so that two replicas never hold the
same message, and only then calls the provider. The outcome is recorded in one transaction
per group of finished attempts:

- accepted: SENT, with the provider's id, and notify.message-recorded.v1 through the outbox;
- transient (429, 5xx, no connection): RETRY at the provider's Retry-After or after an
  exponential backoff with full jitter;
- timeout (sent, no answer): UNKNOWN with a backoff; every later attempt first asks the
  provider whether the message went out, and marks it SENT if it did;
- permanent (invalid address or number, opted out): FAILED with the provider's code, not
  retried. An SMS refused because the number sent STOP (Twilio 21610) puts the number on the
  suppression list and, for a transactional message, queues the same text by email;
- attempts exhausted: FAILED "gave-up".

A member erased since the message was queued (their key shredded) gets nothing: FAILED
"member-erased". An address on the suppression list gets nothing: FAILED "suppressed:<why>".
A claim left SENDING by a dispatcher that died is taken over after `stale_sending_s`, as
UNKNOWN (it may have gone out). Logs carry ids and codes, never addresses or text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from notify.v1 import events_pb2 as notify_events
from sqlalchemy import String, Update, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.db.upsert import insert_ignore
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import OUTBOX_INSERT, outbox_row
from services.common.sealing import Sealer, SubjectForgotten
from services.common.topics import MESSAGE_RECORDED
from services.notify.adapters.orm import messages, suppressions
from services.notify.adapters.suppressions import suppress
from services.notify.domain import delivery
from services.notify.domain.delivery import (
    PERMANENT,
    TIMEOUT,
    TRANSIENT,
    OutgoingEmail,
    OutgoingSms,
    ProviderFailure,
)
from services.notify.domain.messages import (
    FAILED,
    QUEUED,
    RETRY,
    SENDING,
    SENT,
    TO_DISPATCH,
    TRANSACTIONAL,
    UNKNOWN,
)
from services.notify.domain.suppression import EMAIL, SMS, SMS_STOP, address_hash
from services.notify.metrics import MESSAGES_DISPATCHED

log = get_logger(__name__)

SEALED_FIELDS = ("recipient", "subject", "body")
FALLBACK_NAMESPACE = uuid.UUID("0b7f4c52-8f0e-4a8e-9d8e-6b2a1f3c9e71")


class EmailProvider(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> str: ...

    async def lookup(self, message_id: str) -> str | None: ...


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> str: ...

    async def lookup(self, sms: OutgoingSms, since: datetime) -> str | None: ...


class ContactEmails(Protocol):
    """A member's email address now (from membership), for an SMS's email fallback."""

    async def email_of(self, org_id: str, member_id: str) -> str | None: ...


@dataclass(frozen=True)
class DispatchPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 900.0
    batch_size: int = 200
    poll_s: float = 1.0
    stale_sending_s: float = 300.0


@functools.cache
def _record_statement() -> Update:
    return (
        update(messages)
        .where(
            messages.c.id == bindparam("b_id"),
            messages.c.status == SENDING,
            messages.c.attempts == bindparam("b_attempts"),
        )
        .values(
            status=bindparam("b_status"),
            last_error=bindparam("b_error"),
            provider=func.coalesce(bindparam("b_provider", type_=String), messages.c.provider),
            provider_ref=func.coalesce(bindparam("b_ref", type_=String), messages.c.provider_ref),
            sent_at=bindparam("b_sent_at", type_=messages.c.sent_at.type),
            next_attempt_at=bindparam("b_next", type_=messages.c.next_attempt_at.type),
            updated_at=bindparam("b_now", type_=messages.c.updated_at.type),
        )
    )


def fallback_id(original_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(original_id), "email-fallback"))


@dataclass
class _Attempt:
    row: Row
    was_unknown: bool  # an earlier attempt's outcome is unknown: ask before sending
    fields: dict[str, str] = field(default_factory=dict)
    # The outcome, filled by _attempt:
    status: str = ""
    code: str | None = None
    provider: str | None = None
    provider_ref: str | None = None
    delay_s: float | None = None
    suppress_sms: bool = False
    fallback: dict[str, Any] | None = None


def _aware(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return at


class Dispatcher:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        email: EmailProvider,
        sms: SmsProvider,
        suppression_key: bytes,
        policy: DispatchPolicy | None = None,
        contacts: ContactEmails | None = None,
        on_recorded: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.email = email
        self.sms = sms
        self.suppression_key = suppression_key
        self.policy = policy or DispatchPolicy()
        self.contacts = contacts
        self.on_recorded = on_recorded
        self.clock = clock
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Something was queued (a consumer batch committed): look now, not at the poll."""
        self._wakeup.set()

    async def round(self) -> None:
        """One turn of the loop (run back to back by the runtime): dispatch until nothing is
        due, then wait for a wake-up or the poll interval."""
        self._wakeup.clear()
        await self.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.policy.poll_s)

    async def drain(self) -> int:
        """Dispatches until nothing is due; returns how many messages were attempted. Two
        batches overlap: the next is claimed and prepared while the last one's sends finish,
        so the provider is never left idle at a batch boundary."""
        total = 0
        in_flight: list[asyncio.Task[int]] = []
        try:
            while True:
                if len(in_flight) >= 2:
                    await in_flight.pop(0)
                attempts = await self._claim()
                if not attempts:
                    break
                total += len(attempts)
                in_flight.append(asyncio.create_task(self._dispatch(attempts)))
                if len(attempts) < self.policy.batch_size:
                    break
            for task in in_flight:
                await task
        finally:
            for task in in_flight:
                task.cancel()
        return total

    async def run_once(self) -> int:
        """Claims up to a batch of due messages and attempts each; returns how many."""
        attempts = await self._claim()
        if not attempts:
            return 0
        return await self._dispatch(attempts)

    async def _dispatch(self, attempts: list[_Attempt]) -> int:
        await self._prepare(attempts)
        results: asyncio.Queue[_Attempt] = asyncio.Queue()

        async def attempt_one(attempt: _Attempt) -> None:
            try:
                await self._attempt(attempt)
            except Exception as exc:  # a bug or an adapter surprise: try again later
                self._retry(attempt, ProviderFailure(TRANSIENT, type(exc).__name__))
            results.put_nowait(attempt)

        tasks = [asyncio.create_task(attempt_one(a)) for a in attempts if not a.status]
        for attempt in attempts:
            if attempt.status:  # decided while preparing (erased, suppressed)
                results.put_nowait(attempt)
        recorded = 0
        try:
            # Group commit: whatever finished while the last group was written goes next.
            while recorded < len(attempts):
                group = [await results.get()]
                while not results.empty():
                    group.append(results.get_nowait())
                await self._record(group)
                recorded += len(group)
        finally:
            for task in tasks:
                task.cancel()
        return len(attempts)

    # --- claiming ----------------------------------------------------------------------

    def _due(self, now: datetime) -> Any:
        stale = now - timedelta(seconds=self.policy.stale_sending_s)
        return or_(
            and_(
                messages.c.status.in_(TO_DISPATCH),
                or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now),
            ),
            and_(messages.c.status == SENDING, messages.c.updated_at < stale),
        )

    async def _claim(self) -> list[_Attempt]:
        now = self.clock()
        due = self._due(now)
        async with self.database.sessions() as session:
            rows = (
                await session.execute(
                    select(messages)
                    .where(due)
                    .order_by(messages.c.created_at)
                    .limit(self.policy.batch_size)
                )
            ).all()
        if not rows:
            return []
        # Compare-and-set on (id, attempts): a row another dispatcher claimed (or recorded)
        # since we read it has more attempts, and is not ours.
        async with self.database.transaction() as session:
            claimed = set(
                (
                    await session.execute(
                        update(messages)
                        .where(
                            tuple_(messages.c.id, messages.c.attempts).in_(
                                [(row.id, row.attempts) for row in rows]
                            ),
                            due,
                        )
                        .values(status=SENDING, attempts=messages.c.attempts + 1, updated_at=now)
                        .returning(messages.c.id)
                    )
                ).scalars()
            )
        return [
            _Attempt(row, was_unknown=row.status in (UNKNOWN, SENDING))
            for row in rows
            if row.id in claimed
        ]

    # --- before the provider: keys, erasure, suppression --------------------------------

    async def _prepare(self, attempts: list[_Attempt]) -> None:
        with contextlib.suppress(Exception):  # a shortcut only: unseal fetches what it lacks
            await self.sealer.prefetch(sorted({a.row.member_id for a in attempts}))
        hashes: dict[tuple[str, str, str], list[_Attempt]] = {}
        for attempt in attempts:
            row = attempt.row
            sealed = {name: getattr(row, f"{name}_sealed") for name in SEALED_FIELDS}
            if row.html_sealed is not None:
                sealed["html"] = row.html_sealed
            try:
                attempt.fields = await self.sealer.unseal(row.member_id, sealed)
            except SubjectForgotten:
                attempt.status, attempt.code = FAILED, delivery.MEMBER_ERASED
                continue
            key = (
                row.org_id,
                row.channel,
                address_hash(self.suppression_key, row.channel, attempt.fields["recipient"]),
            )
            hashes.setdefault(key, []).append(attempt)
        if not hashes:
            return
        async with self.database.sessions() as session:
            found = (
                await session.execute(
                    select(
                        suppressions.c.org_id,
                        suppressions.c.channel,
                        suppressions.c.address_hash,
                        suppressions.c.reason,
                    ).where(
                        tuple_(
                            suppressions.c.org_id,
                            suppressions.c.channel,
                            suppressions.c.address_hash,
                        ).in_(list(hashes))
                    )
                )
            ).all()
        for org_id, channel, hashed, reason in found:
            for attempt in hashes.get((org_id, channel, hashed), []):
                attempt.status, attempt.code = FAILED, f"suppressed:{reason}"

    # --- the provider call ---------------------------------------------------------------

    async def _attempt(self, attempt: _Attempt) -> None:
        row = attempt.row
        if row.channel == EMAIL:
            email = self._email_of(attempt)
            provider = self.email.name

            async def lookup() -> str | None:
                return await self.email.lookup(row.id)

            async def send() -> str:
                return await self.email.send(email)
        elif row.channel == SMS:
            sms = OutgoingSms(
                row.id,
                row.org_id,
                row.member_id,
                attempt.fields["recipient"],
                attempt.fields["body"],
            )
            provider = self.sms.name
            since = _aware(row.created_at) or self.clock()

            async def lookup() -> str | None:
                return await self.sms.lookup(sms, since)

            async def send() -> str:
                return await self.sms.send(sms)
        else:
            attempt.status, attempt.code = FAILED, f"channel-{row.channel}"[:100]
            return
        attempt.provider = provider
        try:
            if attempt.was_unknown:
                found = await lookup()
                if found is not None:
                    attempt.status, attempt.provider_ref = SENT, found
                    attempt.code = "found-after-timeout"
                    return
            attempt.provider_ref = await send()
            attempt.status = SENT
        except ProviderFailure as failure:
            if failure.kind == PERMANENT:
                attempt.status, attempt.code = FAILED, failure.code
                if row.channel == SMS and failure.code == "twilio-21610":
                    await self._opted_out(attempt)
            else:
                self._retry(attempt, failure)

    def _email_of(self, attempt: _Attempt) -> OutgoingEmail:
        row, fields = attempt.row, attempt.fields
        return OutgoingEmail(
            message_id=row.id,
            org_id=row.org_id,
            member_id=row.member_id,
            to=fields["recipient"],
            subject=fields["subject"],
            text=fields["body"],
            html=fields.get("html"),
            purpose=row.purpose,
            message_class=row.message_class,
        )

    def _retry(self, attempt: _Attempt, failure: ProviderFailure) -> None:
        row = attempt.row
        number = row.attempts + 1  # this attempt
        unknown = attempt.was_unknown or failure.kind == TIMEOUT
        if number >= self.policy.max_attempts:
            attempt.status, attempt.code = FAILED, delivery.GAVE_UP
            return
        attempt.status = UNKNOWN if unknown else RETRY
        attempt.code = failure.code
        attempt.delay_s = delivery.retry_delay_s(
            number, failure.retry_after_s, self.policy.backoff_base_s, self.policy.backoff_cap_s
        )

    async def _opted_out(self, attempt: _Attempt) -> None:
        """The number sent STOP: suppress it; a transactional message goes by email."""
        row = attempt.row
        attempt.suppress_sms = True
        if row.message_class != TRANSACTIONAL or row.fallback_of is not None:
            return
        address = None
        if self.contacts is not None:
            try:
                address = await self.contacts.email_of(row.org_id, row.member_id)
            except Exception as exc:
                log.warning("fallback_contact_failed", message_id=row.id, error=type(exc).__name__)
                address = None
        if not address:
            log.info("fallback_impossible", message_id=row.id, code=delivery.NO_FALLBACK_ADDRESS)
            return
        subject = attempt.fields.get("subject") or row.template
        sealed = await self.sealer.seal(
            row.member_id,
            {"recipient": address, "subject": subject, "body": attempt.fields["body"]},
        )
        attempt.fallback = {
            "id": fallback_id(row.id),
            "org_id": row.org_id,
            "member_id": row.member_id,
            "source_event_id": row.source_event_id,
            "template": row.template,
            "channel": EMAIL,
            "purpose": row.purpose,
            "message_class": row.message_class,
            "legal_basis": row.legal_basis,
            "consent_evidence": row.consent_evidence,
            "recipient_sealed": sealed["recipient"],
            "subject_sealed": sealed["subject"],
            "body_sealed": sealed["body"],
            "html_sealed": None,
            "status": QUEUED,
            "attempts": 0,
            "fallback_of": row.id,
        }

    # --- recording ----------------------------------------------------------------------

    async def _record(self, group: Sequence[_Attempt]) -> None:
        now = self.clock()
        queued_fallback = False
        outcomes = [
            {
                "b_id": a.row.id,
                "b_attempts": a.row.attempts + 1,
                "b_status": a.status,
                "b_error": a.code,
                "b_provider": a.provider,
                "b_ref": a.provider_ref if a.status == SENT else None,
                "b_sent_at": now if a.status == SENT else None,
                "b_next": None if a.delay_s is None else now + timedelta(seconds=a.delay_s),
                "b_now": now,
            }
            for a in group
        ]
        events = [
            outbox_row(
                MESSAGE_RECORDED,
                new_envelope(
                    "notify.message-recorded",
                    notify_events.MessageRecorded(
                        message_id=a.row.id,
                        member_id=a.row.member_id,
                        template=a.row.template,
                        channel=a.row.channel,
                    ),
                    org_id=a.row.org_id,
                    subject_id=a.row.member_id,
                ),
            )
            for a in group
            if a.status == SENT
        ]
        async with self.database.transaction() as session:
            # One statement for the group, compiled once. Only while the claim is still ours:
            # a claim taken over as stale is recorded by its taker.
            await session.execute(_record_statement(), outcomes)
            if events:
                await session.execute(OUTBOX_INSERT, events)
            for attempt in group:
                row = attempt.row
                if attempt.suppress_sms:
                    await suppress(
                        session,
                        row.org_id,
                        SMS,
                        address_hash(self.suppression_key, SMS, attempt.fields["recipient"]),
                        SMS_STOP,
                        now,
                    )
                if attempt.fallback is not None:
                    queued_fallback |= await insert_ignore(
                        session, messages, {**attempt.fallback, "created_at": now}, ["id"]
                    )
        for attempt in group:
            row = attempt.row
            MESSAGES_DISPATCHED.labels(row.channel, attempt.status).inc()
            (log.debug if attempt.status == SENT else log.info)(
                "message_dispatched",
                message_id=row.id,
                channel=row.channel,
                provider=attempt.provider,
                status=attempt.status,
                code=attempt.code,
                attempt=row.attempts + 1,
            )
        if any(a.status == SENT for a in group):
            self.on_recorded()
        if queued_fallback:
            self.wake()
