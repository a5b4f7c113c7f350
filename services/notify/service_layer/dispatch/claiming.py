"""Which messages are due, and the compare-and-set that makes them ours before any provider
hears of them: status SENDING, attempts + 1, committed."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Update, and_, bindparam, or_, select, tuple_, update

from services.common.db.engine import Database
from services.notify.adapters.orm import messages
from services.notify.domain.messages import SENDING, TO_DISPATCH, UNKNOWN
from services.notify.service_layer.dispatch.attempt import Attempt, DispatchPolicy

_AT = messages.c.updated_at.type


def _due() -> Any:
    """Waiting and due at :now, or left SENDING by a dispatcher that died before :stale."""
    return or_(
        and_(
            messages.c.status.in_(TO_DISPATCH),
            or_(
                messages.c.next_attempt_at.is_(None),
                messages.c.next_attempt_at <= bindparam("c_now", type_=_AT),
            ),
        ),
        and_(messages.c.status == SENDING, messages.c.updated_at < bindparam("c_stale", type_=_AT)),
    )


# What an attempt reads of its row (not the delivery columns the webhooks keep: fewer
# values, and fewer timestamps parsed, per row).
_READ = (
    *(
        messages.c[name]
        for name in (
            "id",
            "org_id",
            "member_id",
            "source_event_id",
            "template",
            "channel",
            "purpose",
            "message_class",
            "legal_basis",
            "consent_evidence",
            "status",
            "attempts",
            "created_at",
            "fallback_of",
        )
    ),
    *(messages.c[f"{name}_sealed"] for name in ("recipient", "subject", "body", "html")),
)


# Built once each (per batch size), the values bound per call: compiled once, not per batch.
@functools.cache
def _due_rows(limit: int) -> Select[Any]:
    return select(*_READ).where(_due()).order_by(messages.c.created_at).limit(limit)


@functools.cache
def _claim_statement() -> Update:
    # Compare-and-set on (id, attempts): a row another dispatcher claimed (or recorded) since
    # we read it has more attempts, and is not ours.
    return (
        update(messages)
        .where(
            tuple_(messages.c.id, messages.c.attempts).in_(bindparam("c_read", expanding=True)),
            _due(),
        )
        .values(
            status=SENDING,
            attempts=messages.c.attempts + 1,
            updated_at=bindparam("c_now", type_=_AT),
        )
        .returning(messages.c.id)
    )


async def claim(database: Database, policy: DispatchPolicy, now: datetime) -> list[Attempt]:
    """Up to a batch of due messages, oldest first, claimed and committed."""
    at = {"c_now": now, "c_stale": now - timedelta(seconds=policy.stale_sending_s)}
    async with database.sessions() as session:
        rows = (await session.execute(_due_rows(policy.batch_size), at)).all()
    if not rows:
        return []
    async with database.transaction() as session:
        claimed = set(
            (
                await session.execute(
                    _claim_statement(), {**at, "c_read": [(row.id, row.attempts) for row in rows]}
                )
            ).scalars()
        )
    return [
        Attempt(row, was_unknown=row.status in (UNKNOWN, SENDING))
        for row in rows
        if row.id in claimed
    ]
