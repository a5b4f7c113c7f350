"""The outcomes of a group of finished attempts, in one transaction: each message's status
(only while the claim is still ours), notify.message-recorded.v1 through the outbox for each
one SENT, and what a STOP'd SMS leaves behind (the number suppressed, the email fallback
queued). Then the metrics and one log line per message (ids and codes only)."""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notify.v1 import events_pb2 as notify_events
from sqlalchemy import String, Update, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.db.upsert import insert_ignore
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import OUTBOX_INSERT, outbox_row
from services.common.topics import MESSAGE_RECORDED
from services.notify.adapters.orm import messages
from services.notify.adapters.suppressions import suppress
from services.notify.domain.messages import SENDING, SENT
from services.notify.domain.suppression import SMS, SMS_STOP, address_hash
from services.notify.metrics import MESSAGES_DISPATCHED
from services.notify.service_layer.dispatch.attempt import Attempt

log = get_logger(__name__)


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


@functools.cache
def _dispatched(channel: str, status: str) -> Any:
    return MESSAGES_DISPATCHED.labels(channel, status)


@dataclass(frozen=True)
class Recorded:
    sent: bool  # some message went out (the outbox has events to relay)
    queued_fallback: bool  # an email fallback was queued (there is more to dispatch)


def _outcome(attempt: Attempt, now: datetime) -> dict[str, Any]:
    sent = attempt.status == SENT
    return {
        "b_id": attempt.row.id,
        "b_attempts": attempt.number,
        "b_status": attempt.status,
        "b_error": attempt.code,
        "b_provider": attempt.provider,
        "b_ref": attempt.provider_ref if sent else None,
        "b_sent_at": now if sent else None,
        "b_next": None if attempt.delay_s is None else now + timedelta(seconds=attempt.delay_s),
        "b_now": now,
    }


def _event_ids(n: int) -> list[str]:
    """n random (version 4) UUIDs from one system call, not one each."""
    drawn = os.urandom(16 * n)
    return [str(uuid.UUID(bytes=drawn[i : i + 16], version=4)) for i in range(0, 16 * n, 16)]


def _recorded_event(attempt: Attempt, event_id: str) -> dict[str, object]:
    row = attempt.row
    return outbox_row(
        MESSAGE_RECORDED,
        new_envelope(
            "notify.message-recorded",
            notify_events.MessageRecorded(
                message_id=row.id,
                member_id=row.member_id,
                template=row.template,
                channel=row.channel,
            ),
            org_id=row.org_id,
            subject_id=row.member_id,
            event_id=event_id,
        ),
    )


async def record(
    database: Database, suppression_key: bytes, group: Sequence[Attempt], now: datetime
) -> Recorded:
    outcomes = [_outcome(a, now) for a in group]
    sent = [a for a in group if a.status == SENT]
    events = [_recorded_event(a, i) for a, i in zip(sent, _event_ids(len(sent)), strict=True)]
    stopped = [a for a in group if a.suppress_sms or a.fallback is not None]

    async def write(session: AsyncSession) -> bool:
        # One statement for the group, compiled once. Only while the claim is still ours: a
        # claim taken over as stale is recorded by its taker.
        await session.execute(_record_statement(), outcomes)
        if events:
            await session.execute(OUTBOX_INSERT, events)
        queued_fallback = False
        for attempt in stopped:
            row = attempt.row
            if attempt.suppress_sms:
                hashed = address_hash(suppression_key, SMS, attempt.fields["recipient"])
                await suppress(session, row.org_id, SMS, hashed, SMS_STOP, now)
            if attempt.fallback is not None:
                queued_fallback |= await insert_ignore(
                    session, messages, {**attempt.fallback, "created_at": now}, ["id"]
                )
        return queued_fallback

    try:
        # A short run of statements by key: on a SQLite file, on the loop itself (no thread
        # hop per statement). Whatever goes wrong there (the file locked by another process
        # included) is rolled back, and the group written again in an ordinary transaction.
        async with database.transaction(inline=True) as session:
            queued_fallback = await write(session)
    except Exception:
        if not database.is_sqlite:  # inline is a SQLite file's; elsewhere it was ordinary
            raise
        async with database.transaction() as session:
            queued_fallback = await write(session)

    _count_and_log(group)
    return Recorded(sent=bool(events), queued_fallback=queued_fallback)


def _count_and_log(group: Sequence[Attempt]) -> None:
    for (channel, status), n in Counter((a.row.channel, a.status) for a in group).items():
        _dispatched(channel, status).inc(n)
    # A message sent is logged at debug: skipped whole unless enabled (structlog would run
    # every processor on it before the standard library's logger drops it). The logger
    # behind `log` is the standard library's of the same name.
    debug = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
    for attempt in group:
        if attempt.status == SENT and not debug:
            continue
        row = attempt.row
        (log.debug if attempt.status == SENT else log.info)(
            "message_dispatched",
            message_id=row.id,
            channel=row.channel,
            provider=attempt.provider,
            status=attempt.status,
            code=attempt.code,
            attempt=attempt.number,
        )
