"""Queries on what billing keeps of Stripe: customer ids, payment attempts (written before
each call that may create something, with its idempotency key) and webhook events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.orm import (
    credit_notes,
    invoices,
    ledger_entries,
    payment_attempts,
    stripe_customers,
    stripe_events,
)
from services.billing.domain.ledger import PAYMENT
from services.common.db.upsert import insert_ignore

REFUND_PREFIX = "refund:"

# Statuses of a payment attempt after which nobody can pay through it any more.
CANCELED = "canceled"
SUCCEEDED = "succeeded"
FINISHED = (CANCELED, SUCCEEDED)


class StripeStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- customers -----------------------------------------------------------------------

    async def customer_of(self, org_id: str, member_id: str) -> str | None:
        return await self.session.scalar(
            select(stripe_customers.c.customer_id).where(
                stripe_customers.c.org_id == org_id, stripe_customers.c.member_ref == member_id
            )
        )

    async def customer_generation(self, org_id: str, member_id: str) -> int:
        """How many Stripe customers this member has had (0: none yet)."""
        found = await self.session.scalar(
            select(stripe_customers.c.generation).where(
                stripe_customers.c.org_id == org_id, stripe_customers.c.member_ref == member_id
            )
        )
        return int(found or 0)

    async def link_customer(
        self, org_id: str, member_id: str, customer_id: str, generation: int, now: datetime
    ) -> bool:
        """Links the member's `generation`th customer; False when another call linked one
        first (the caller then reads it)."""
        if generation == 1:
            return await insert_ignore(
                self.session,
                stripe_customers,
                {
                    "org_id": org_id,
                    "member_ref": member_id,
                    "customer_id": customer_id,
                    "created_at": now,
                    "generation": 1,
                },
                ["org_id", "member_ref"],
            )
        result = await self.session.execute(
            update(stripe_customers)
            .where(
                stripe_customers.c.org_id == org_id,
                stripe_customers.c.member_ref == member_id,
                stripe_customers.c.customer_id.is_(None),
                stripe_customers.c.generation == generation - 1,
            )
            .values(customer_id=customer_id, generation=generation, created_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def unlink_customer(self, customer_id: str) -> bool:
        """Stripe deleted the customer: the link goes, the member's generation stays."""
        result = await self.session.execute(
            update(stripe_customers)
            .where(stripe_customers.c.customer_id == customer_id)
            .values(customer_id=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove_customers_of(self, org_id: str, member_id: str) -> None:
        """Erasure: nothing of the member's Stripe customers stays, not even their count."""
        await self.session.execute(
            delete(stripe_customers).where(
                stripe_customers.c.org_id == org_id, stripe_customers.c.member_ref == member_id
            )
        )

    # --- payment attempts (and refund requests, told apart by their key) -----------------

    async def attempts_of(self, invoice_id: str) -> list[Row]:
        result = await self.session.execute(
            select(payment_attempts)
            .where(payment_attempts.c.invoice_id == invoice_id)
            .order_by(payment_attempts.c.attempt)
        )
        return list(result.all())

    async def next_attempt(self, invoice_id: str) -> int:
        last = await self.session.scalar(
            select(func.max(payment_attempts.c.attempt)).where(
                payment_attempts.c.invoice_id == invoice_id
            )
        )
        return int(last or 0) + 1

    async def add_attempt(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(payment_attempts), values)

    async def update_attempt(self, attempt_id: str, **values: Any) -> None:
        await self.session.execute(
            update(payment_attempts).where(payment_attempts.c.id == attempt_id).values(values)
        )

    async def live_payment_attempts(self, invoice_id: str) -> list[Row]:
        """Attempts of the invoice that a payer may still complete (a declined card's too:
        its PaymentIntent takes another card)."""
        result = await self.session.execute(
            select(payment_attempts)
            .where(
                payment_attempts.c.invoice_id == invoice_id,
                payment_attempts.c.status.not_in(FINISHED),
                payment_attempts.c.idempotency_key.not_like(f"{REFUND_PREFIX}%"),
            )
            .order_by(payment_attempts.c.attempt)
        )
        return list(result.all())

    async def invoices_with_live_attempts(self, status: str, limit: int) -> list[str]:
        """Invoices in `status` (void) that still have a live payment attempt."""
        result = await self.session.scalars(
            select(payment_attempts.c.invoice_id)
            .join(invoices, invoices.c.id == payment_attempts.c.invoice_id)
            .where(
                invoices.c.status == status,
                payment_attempts.c.status.not_in(FINISHED),
                payment_attempts.c.idempotency_key.not_like(f"{REFUND_PREFIX}%"),
            )
            .distinct()
            .limit(limit)
        )
        return list(result)

    async def set_refund_status(self, refund_id: str, status: str) -> bool:
        """Records what became of a refund we asked for; False if it is not one of ours."""
        result = await self.session.execute(
            update(payment_attempts)
            .where(payment_attempts.c.refund_id == refund_id)
            .values(status=status)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def attempt_by_intent(self, payment_intent_id: str) -> Row | None:
        return (
            await self.session.execute(
                select(payment_attempts).where(
                    payment_attempts.c.payment_intent_id == payment_intent_id
                )
            )
        ).first()

    async def set_intent_status(self, payment_intent_id: str, status: str) -> None:
        await self.session.execute(
            update(payment_attempts)
            .where(payment_attempts.c.payment_intent_id == payment_intent_id)
            .values(status=status)
        )

    async def paid_intent_of(self, invoice_id: str) -> str | None:
        """The PaymentIntent that paid the invoice, from its booked payment (the ledger is
        the truth whichever flow, webhook or reconciliation, booked it)."""
        ref = await self.session.scalar(
            select(ledger_entries.c.source_ref)
            .where(ledger_entries.c.invoice_id == invoice_id, ledger_entries.c.kind == PAYMENT)
            .order_by(ledger_entries.c.id)
            .limit(1)
        )
        return ref.removeprefix("payment:") if ref else None

    async def credit_note_of_refund(self, refund_id: str) -> tuple[str, int] | None:
        row = (
            await self.session.execute(
                select(credit_notes.c.id, credit_notes.c.number).where(
                    credit_notes.c.refund_id == refund_id
                )
            )
        ).first()
        return (row.id, int(row.number)) if row else None

    # --- webhook events --------------------------------------------------------------------

    async def add_event(self, values: dict[str, Any]) -> bool:
        """False (and nothing written) when the event id is stored already."""
        return await insert_ignore(self.session, stripe_events, values, ["event_id"])

    async def pending_events(self, limit: int) -> list[Row]:
        # Stripe's creation time first: the natural order, though handlers do not rely on it.
        result = await self.session.execute(
            select(stripe_events)
            .where(stripe_events.c.processed_at.is_(None))
            .order_by(stripe_events.c.created, stripe_events.c.received_at)
            .limit(limit)
        )
        return list(result.all())

    async def event(self, event_id: str) -> Row | None:
        return (
            await self.session.execute(
                select(stripe_events).where(stripe_events.c.event_id == event_id)
            )
        ).first()

    async def finish_event(self, event_id: str, outcome: str, now: datetime) -> bool:
        """Marks the event processed; False if another worker got there first."""
        result = await self.session.execute(
            update(stripe_events)
            .where(stripe_events.c.event_id == event_id, stripe_events.c.processed_at.is_(None))
            .values(processed_at=now, outcome=outcome, attempts=stripe_events.c.attempts + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_outcome(self, event_id: str, outcome: str) -> None:
        await self.session.execute(
            update(stripe_events)
            .where(stripe_events.c.event_id == event_id)
            .values(outcome=outcome)
        )

    async def count_failure(self, event_id: str) -> int:
        await self.session.execute(
            update(stripe_events)
            .where(stripe_events.c.event_id == event_id)
            .values(attempts=stripe_events.c.attempts + 1)
        )
        return int(
            await self.session.scalar(
                select(stripe_events.c.attempts).where(stripe_events.c.event_id == event_id)
            )
            or 0
        )
