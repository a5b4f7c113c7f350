"""The status lifecycle: billing's events and the passing of time move members between
pending, active, grace and lapsed. Each change is audited and announced (MemberStatusChanged)
in the transaction that makes it.

The billing handlers run inside the consumer's transaction, whose inbox record makes a
redelivered event a no-op. The sweep works for every org at once, in batches of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from billing.v1 import events_pb2 as billing_events
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import Clock, oslo_today
from services.common.db.engine import Database
from services.common.envelope import EventContext, new_envelope, unpack
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.topics import MEMBER_STATUS_CHANGED
from services.membership.adapters import audit
from services.membership.adapters.audit import Change
from services.membership.adapters.repository import Repository
from services.membership.domain.periods import DEFAULT_RULES, TypeRules, renewal
from services.membership.domain.status import (
    ACTIVE,
    DUNNING,
    EXPIRY,
    GRACE,
    PAYMENT,
    after_dunning_exhausted,
    after_payment,
    after_time,
)
from services.membership.metrics import STATUS_CHANGES

log = get_logger(__name__)

ACTOR = "service"


@dataclass(frozen=True)
class SweepResult:
    to_grace: int = 0
    to_lapsed: int = 0


class MemberLifecycle:
    def __init__(
        self,
        database: Database,
        clock: Clock = oslo_today,
        on_committed: Callable[[], None] = lambda: None,
        batch_size: int = 200,
    ) -> None:
        """`clock` answers today's date: the only source of time, so that tests can run a
        year in a moment. `on_committed` is told after the sweep commits events (the relay)."""
        self.database = database
        self.clock = clock
        self.on_committed = on_committed
        self.batch_size = batch_size

    # --- billing's events (consumer handlers) ---------------------------------------------

    async def on_payment_succeeded(self, session: AsyncSession, envelope: Envelope) -> None:
        paid = unpack(envelope, billing_events.PaymentSucceeded)
        repo = Repository(session)
        row = await self._member(repo, envelope, paid.org_id, paid.member_id)
        if row is None:
            return
        new_status = after_payment(row.status)
        if new_status is None:
            log.info("payment_ignored", status=row.status, event_id=envelope.event_id)
            return
        start, end = renewal(await self._rules(repo, row), row.status, row.period_end, self.clock())
        values = {"status": new_status, "period_start": start, "period_end": end}
        await self._change(session, row, values, PAYMENT, EventContext.caused_by(envelope))
        STATUS_CHANGES.labels(PAYMENT, new_status).inc()

    async def on_dunning_exhausted(self, session: AsyncSession, envelope: Envelope) -> None:
        exhausted = unpack(envelope, billing_events.DunningExhausted)
        row = await self._member(
            Repository(session), envelope, exhausted.org_id, exhausted.member_id
        )
        if row is None:
            return
        new_status = after_dunning_exhausted(row.status)
        if new_status is None:
            log.info("dunning_ignored", status=row.status, event_id=envelope.event_id)
            return
        await self._change(
            session, row, {"status": new_status}, DUNNING, EventContext.caused_by(envelope)
        )
        STATUS_CHANGES.labels(DUNNING, new_status).inc()

    async def _member(
        self, repo: Repository, envelope: Envelope, org_id: str, member_id: str
    ) -> Row | None:
        org_id = org_id or envelope.org_id
        row = await repo.membership_for_update(org_id, member_id) if org_id else None
        if row is None:  # erased since, or not a member of that org: nothing to change
            log.info("lifecycle_member_not_found", event_id=envelope.event_id)
        return row

    # --- time -----------------------------------------------------------------------------

    async def sweep(self, today: date | None = None) -> SweepResult:
        """Active members of every org whose period ran out go to grace, then those whose grace
        ran out lapse. Runs in a fresh context: it is the service's own work for all orgs
        (tenant "*" to row-level security), whoever calls it."""
        day = today or self.clock()
        return await asyncio.create_task(self._sweep(day), context=contextvars.Context())

    async def _sweep(self, today: date) -> SweepResult:
        rules: dict[tuple[str, str], TypeRules] = {}
        to_grace = await self._expire(ACTIVE, today, rules)
        to_lapsed = await self._expire(GRACE, today, rules)
        if to_grace or to_lapsed:
            log.info("status_sweep", to_grace=to_grace, to_lapsed=to_lapsed)
        return SweepResult(to_grace, to_lapsed)

    async def _expire(
        self, status: str, today: date, rules: dict[tuple[str, str], TypeRules]
    ) -> int:
        moved, after = 0, ""
        while True:
            changed: list[str] = []
            async with self.database.transaction() as session:
                repo = Repository(session)
                rows = await repo.memberships_ended(status, today, after, self.batch_size)
                for row in rows:
                    grace_days = (await self._rules(repo, row, rules)).grace_days
                    new_status = after_time(row.status, row.period_end, grace_days, today)
                    if new_status is not None:
                        await self._change(session, row, {"status": new_status}, EXPIRY)
                        changed.append(new_status)
            if changed:
                self.on_committed()
                for new_status in changed:
                    STATUS_CHANGES.labels(EXPIRY, new_status).inc()
            moved += len(changed)
            if len(rows) < self.batch_size:
                return moved
            after = rows[-1].id

    # --- shared ---------------------------------------------------------------------------

    async def _rules(
        self,
        repo: Repository,
        row: Row,
        cache: dict[tuple[str, str], TypeRules] | None = None,
    ) -> TypeRules:
        """The member's type, or the default (rolling yearly) for members without one."""
        if not row.type_id:
            return DEFAULT_RULES
        key = (row.org_id, row.type_id)
        if cache is not None and key in cache:
            return cache[key]
        found = await repo.membership_type(row.org_id, row.type_id)
        rules = (
            TypeRules(found.name, found.period, found.kind, found.rollover, found.grace_days)
            if found is not None
            else DEFAULT_RULES
        )
        if cache is not None:
            cache[key] = rules
        return rules

    async def _change(
        self,
        session: AsyncSession,
        row: Row,
        values: dict[str, object],
        reason: str,
        context: EventContext | None = None,
    ) -> None:
        action = "member.renewed" if reason == PAYMENT else "member.status-changed"
        await change_status(session, row, values, reason, Change(ACTOR, action, row.id), context)


async def change_status(
    session: AsyncSession,
    row: Row,
    values: dict[str, object],
    reason: str,
    change: Change,
    context: EventContext | None = None,
) -> None:
    """A member's new status (and period), audited by the fields it changed and announced,
    in the caller's transaction."""
    fields = tuple(f for f, v in values.items() if getattr(row, f) != v)
    await Repository(session).update_member(row.org_id, row.id, values)
    await audit.record(session, row.org_id, replace(change, fields=fields))
    period_end = values.get("period_end", row.period_end)
    await add_event(
        session,
        MEMBER_STATUS_CHANGED,
        new_envelope(
            "membership.member-status-changed",
            events_pb2.MemberStatusChanged(
                member_id=row.id,
                org_id=row.org_id,
                old_status=row.status,
                new_status=str(values["status"]),
                period_end=period_end.isoformat() if isinstance(period_end, date) else "",
                reason=reason,
            ),
            org_id=row.org_id,
            subject_id=row.id,
            context=context,
        ),
    )
