"""Invoices: one on every sign-up and one for every renewal, each booked in the ledger and
announced (billing.invoice-issued.v1) in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from billing.v1 import events_pb2 as billing_events
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2 as membership_events
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.repository import Repository
from services.billing.domain.dunning import first_check
from services.billing.domain.invoices import OPEN, SIGNUP, delete_after, due_date
from services.billing.domain.kid import make_kid
from services.billing.domain.ledger import INVOICE, ledger_entry
from services.billing.metrics import INVOICES_ISSUED
from services.common.clock import Clock, oslo_today
from services.common.envelope import EventContext, new_envelope, unpack
from services.common.outbox import add_event
from services.common.topics import INVOICE_ISSUED


@dataclass(frozen=True)
class DefaultFee:
    """What an org without a fee plan is charged; 0 means no invoice at all."""

    amount_ore: int
    currency: str
    due_days: int


@dataclass(frozen=True)
class InvoiceRequest:
    org_id: str
    member_id: str
    membership_type_id: str
    reason: str  # SIGNUP or RENEWAL
    source_event_id: str  # what set it off: one invoice per event
    renews_period_end: date | None = None


class Invoicing:
    def __init__(self, default_fee: DefaultFee, clock: Clock = oslo_today) -> None:
        self.default_fee = default_fee
        self.clock = clock

    async def on_member_registered(self, session: AsyncSession, envelope: Envelope) -> None:
        registered = unpack(envelope, membership_events.MemberRegistered)
        repo = Repository(session)
        await repo.track_member(
            registered.org_id,
            registered.member_id,
            datetime.now(UTC),
            status="pending",
            membership_type_id=registered.membership_type_id,
        )
        await self.issue(
            session,
            InvoiceRequest(
                registered.org_id,
                registered.member_id,
                registered.membership_type_id,
                SIGNUP,
                envelope.event_id,
            ),
            EventContext.caused_by(envelope),
        )

    async def on_member_status_changed(self, session: AsyncSession, envelope: Envelope) -> None:
        """Keeps the period end renewals are issued from."""
        changed = unpack(envelope, membership_events.MemberStatusChanged)
        await Repository(session).track_member(
            changed.org_id,
            changed.member_id,
            datetime.now(UTC),
            status=changed.new_status,
            period_end=date.fromisoformat(changed.period_end) if changed.period_end else None,
        )

    async def issue(
        self, session: AsyncSession, request: InvoiceRequest, context: EventContext
    ) -> str | None:
        """Issues the invoice in the caller's transaction; its id, or None when the member's
        plan charges nothing."""
        repo = Repository(session)
        plan = await repo.fee_plan_for(request.org_id, request.membership_type_id)
        fee = (
            DefaultFee(plan.amount_ore, plan.currency, plan.due_days) if plan else self.default_fee
        )
        if fee.amount_ore <= 0:
            return None
        policy = await repo.policy(request.org_id)
        number = await repo.next_number(request.org_id)
        now = datetime.now(UTC)
        today = self.clock()
        invoice_id = str(uuid.uuid4())
        due = due_date(today, fee.due_days)
        kid = make_kid(number, policy.kid_scheme)
        await repo.add_invoice(
            {
                "id": invoice_id,
                "org_id": request.org_id,
                "member_ref": request.member_id,
                "source_event_id": request.source_event_id,
                "number": number,
                "kid": kid,
                "amount_ore": fee.amount_ore,
                "currency": fee.currency,
                "status": OPEN,
                "issued_at": now,
                "due_date": due,
                "membership_type_id": request.membership_type_id,
                "reason": request.reason,
                "renews_period_end": request.renews_period_end,
                "next_reminder_on": first_check(due, policy),
                "delete_after": delete_after(today),
            }
        )
        await repo.book(
            ledger_entry(
                INVOICE,
                f"invoice:{invoice_id}",
                org_id=request.org_id,
                member_ref=request.member_id,
                invoice_id=invoice_id,
                amount_ore=fee.amount_ore,
                currency=fee.currency,
                recorded_at=now,
            )
        )
        await add_event(
            session,
            INVOICE_ISSUED,
            new_envelope(
                "billing.invoice-issued",
                billing_events.InvoiceIssued(
                    invoice_id=invoice_id,
                    member_id=request.member_id,
                    invoice_number=number,
                    amount_ore=fee.amount_ore,
                    currency=fee.currency,
                    due_date=due.isoformat(),
                    kid=kid,
                    reason=request.reason,
                ),
                org_id=request.org_id,
                subject_id=request.member_id,
                context=context,
            ),
        )
        INVOICES_ISSUED.labels(request.reason).inc()
        return invoice_id
