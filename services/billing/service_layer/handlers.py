"""Billing use cases: an invoice for every new member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from billing.v1 import events_pb2 as billing_events
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2 as membership_events
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import due_date, kid_for
from services.billing.metrics import INVOICES_ISSUED
from services.common.envelope import EventContext, new_envelope, unpack
from services.common.outbox import add_event
from services.common.topics import INVOICE_ISSUED


class BillingHandlers:
    def __init__(self, default_fee_ore: int, currency: str, due_days: int) -> None:
        self.default_fee_ore = default_fee_ore
        self.currency = currency
        self.due_days = due_days

    async def on_member_registered(self, session: AsyncSession, envelope: Envelope) -> None:
        registered = unpack(envelope, membership_events.MemberRegistered)
        repo = Repository(session)
        number = await repo.next_invoice_number(registered.org_id)
        now = datetime.now(UTC)
        invoice_id = str(uuid.uuid4())
        due = due_date(now.date(), self.due_days)
        await repo.add_invoice(
            invoice_id=invoice_id,
            org_id=registered.org_id,
            member_id=registered.member_id,
            source_event_id=envelope.event_id,
            number=number,
            kid=kid_for(number),
            amount_ore=self.default_fee_ore,
            currency=self.currency,
            issued_at=now,
            due=due,
        )
        await add_event(
            session,
            INVOICE_ISSUED,
            new_envelope(
                "billing.invoice-issued",
                billing_events.InvoiceIssued(
                    invoice_id=invoice_id,
                    member_id=registered.member_id,
                    invoice_number=number,
                    amount_ore=self.default_fee_ore,
                    currency=self.currency,
                    due_date=due.isoformat(),
                ),
                org_id=registered.org_id,
                subject_id=registered.member_id,
                context=EventContext.caused_by(envelope),
            ),
        )
        INVOICES_ISSUED.inc()
