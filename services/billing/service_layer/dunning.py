"""Dunning runs: every open invoice that has come up gets its next step (a reminder, or at the
end a write-off that lapses the membership), announced through the outbox in the transaction
that records it.

Each invoice is stepped in its own transaction, re-read under lock: a payment that lands
between the selection and the step wins, and two runs at once step an invoice only once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from billing.v1 import events_pb2 as billing_events
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.repository import Repository
from services.billing.adapters.sweeps import SweepQueries
from services.billing.domain import dunning
from services.billing.domain.invoices import OPEN, UNCOLLECTIBLE
from services.billing.domain.ledger import WRITE_OFF
from services.billing.metrics import DUNNING_STEPS
from services.common.clock import OSLO, Clock, oslo_today
from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.topics import DUNNING_EXHAUSTED, REMINDER_DUE

log = get_logger(__name__)


@dataclass(frozen=True)
class DunningResult:
    reminders: int = 0
    written_off: int = 0


def moment_on(today: date) -> datetime:
    """A timestamp on the clock's day (now, when the clock is the real one), so that what a
    run records dates from the day it ran for, in tests as in production."""
    return datetime.combine(today, datetime.now(OSLO).timetz()).astimezone(UTC)


class Dunning:
    def __init__(
        self,
        database: Database,
        clock: Clock = oslo_today,
        on_committed: Callable[[], None] = lambda: None,
        batch_size: int = 200,
    ) -> None:
        """`clock` is the only source of days; `on_committed` is told after a step commits
        its event (the outbox relay)."""
        self.database = database
        self.clock = clock
        self.on_committed = on_committed
        self.batch_size = batch_size

    async def run(self, today: date | None = None) -> DunningResult:
        """Steps every invoice due by today, for every org. Runs in a fresh context: it is the
        service's own work (tenant "*" to row-level security), whoever calls it."""
        day = today or self.clock()
        return await asyncio.create_task(self._run(day), context=contextvars.Context())

    async def _run(self, today: date) -> DunningResult:
        steps = {dunning.REMIND: 0, dunning.WRITE_OFF: 0}
        after: tuple[date, str] | None = None
        while True:
            async with self.database.sessions() as session:
                due = await SweepQueries(session).invoices_coming_up(today, after, self.batch_size)
            for row in due:
                try:
                    action = await self._step(row.org_id, row.id, today)
                except Exception as exc:  # one bad invoice must not stop the others
                    log.warning("dunning_step_failed", invoice_id=row.id, error=type(exc).__name__)
                    continue
                if action is not None:
                    steps[action] += 1
                    DUNNING_STEPS.labels(_LABELS[action]).inc()
                    self.on_committed()
            if len(due) < self.batch_size:
                break
            after = (due[-1].next_reminder_on, due[-1].id)
        result = DunningResult(steps[dunning.REMIND], steps[dunning.WRITE_OFF])
        if result != DunningResult():
            log.info("dunning_run", reminders=result.reminders, written_off=result.written_off)
        return result

    async def _step(self, org_id: str, invoice_id: str, today: date) -> str | None:
        """The step taken, or None when the invoice was paid, closed or stepped meanwhile."""
        async with self.database.transaction() as session:
            repo = Repository(session)
            invoice = await repo.invoice(org_id, invoice_id, for_update=True)
            if (
                invoice is None
                or invoice.status != OPEN
                or invoice.next_reminder_on is None
                or invoice.next_reminder_on > today
            ):
                return None
            # The policy in force today, not the one the invoice was issued under.
            step = dunning.next_step(invoice.reminders_sent, today, await repo.policy(org_id))
            if step.action == dunning.REMIND:
                await _remind(session, repo, invoice, step)
            else:
                await _write_off(session, repo, invoice, today)
            return step.action


_LABELS = {dunning.REMIND: "reminder", dunning.WRITE_OFF: "write_off"}


async def _remind(
    session: AsyncSession, repo: Repository, invoice: Row, step: dunning.Step
) -> None:
    await repo.update_invoice(
        invoice.id, reminders_sent=step.reminder_number, next_reminder_on=step.next_on
    )
    payload = billing_events.ReminderDue(
        invoice_id=invoice.id,
        member_id=invoice.member_ref,
        org_id=invoice.org_id,
        reminder_number=step.reminder_number,
        amount_ore=invoice.amount_ore,
        currency=invoice.currency,
        due_date=invoice.due_date.isoformat(),
        kid=invoice.kid,
    )
    envelope = new_envelope(
        "billing.reminder-due", payload, org_id=invoice.org_id, subject_id=invoice.member_ref
    )
    await add_event(session, REMINDER_DUE, envelope)


async def _write_off(session: AsyncSession, repo: Repository, invoice: Row, today: date) -> None:
    now = moment_on(today)
    await repo.update_invoice(
        invoice.id, status=UNCOLLECTIBLE, closed_at=now, next_reminder_on=None
    )
    unpaid = await repo.invoice_balance(invoice.org_id, invoice.id)
    if unpaid > 0:
        # The fiscal year is the Norwegian day's, not the UTC date of the timestamp.
        await repo.book_on(invoice, WRITE_OFF, f"write_off:{invoice.id}", unpaid, now, today)
    payload = billing_events.DunningExhausted(
        invoice_id=invoice.id, member_id=invoice.member_ref, org_id=invoice.org_id
    )
    envelope = new_envelope(
        "billing.dunning-exhausted", payload, org_id=invoice.org_id, subject_id=invoice.member_ref
    )
    await add_event(session, DUNNING_EXHAUSTED, envelope)
