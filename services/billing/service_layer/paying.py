"""Starting a payment of an open invoice at Stripe.

The slow call to Stripe never runs inside a database transaction (on SQLite that holds the
process's write turn): the attempt row with its idempotency key is committed first, then
Stripe is called, then its answer is recorded. An invoice voided meanwhile gets what Stripe
made cancelled at once, and the caller a FAILED_PRECONDITION.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.billing.adapters.repository import Repository
from services.billing.adapters.stripe_gateway import PaymentGateway, PaymentSession
from services.billing.adapters.stripe_store import CANCELED, REFUND_PREFIX, StripeStore
from services.billing.domain.invoices import OPEN
from services.billing.service_layer.payment_cancellation import PaymentCancellation
from services.billing.service_layer.payment_common import (
    invoice_of,
    payment_key,
    refused_as_precondition,
)
from services.billing.service_layer.stripe_customers import StripeCustomers
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition


@dataclass(frozen=True)
class PaymentView:
    invoice_id: str
    payment_intent_id: str
    client_secret: str
    url: str
    status: str

    @classmethod
    def of(cls, invoice_id: str, session: PaymentSession) -> PaymentView:
        return cls(
            invoice_id,
            session.payment_intent_id,
            session.client_secret,
            session.url,
            session.status,
        )


def _not_open(invoice_id: str, status: str) -> FailedPrecondition:
    return FailedPrecondition(f"invoice {invoice_id} is {status}, not open")


class Paying:
    def __init__(
        self,
        database: Database,
        gateway: PaymentGateway,
        customers: StripeCustomers,
        cancellation: PaymentCancellation,
    ) -> None:
        self.database = database
        self.gateway = gateway
        self.customers = customers
        self.cancellation = cancellation

    async def create_payment(self, org_id: str, invoice_id: str) -> PaymentView:
        invoice = await invoice_of(self.database, org_id, invoice_id)
        if invoice.status != OPEN:
            raise _not_open(invoice_id, invoice.status)
        customer_id = await self.customers.customer_for(org_id, invoice.member_ref)
        attempt = await self._live_attempt(invoice)
        if attempt.payment_intent_id:
            session = await self.gateway.payment(attempt.payment_intent_id)
            if session.status != CANCELED:
                return PaymentView.of(invoice_id, session)
            async with self.database.transaction() as db:
                await StripeStore(db).update_attempt(attempt.id, status=CANCELED)
            attempt = await self._live_attempt(invoice)
        with refused_as_precondition():
            session = await self.gateway.start_payment(
                customer_id=customer_id,
                amount_ore=invoice.amount_ore,
                currency=invoice.currency,
                description=f"Invoice {invoice.number}",
                metadata={"invoice_id": invoice.id, "org_id": org_id},
                idempotency_key=attempt.idempotency_key,
            )
        async with self.database.transaction() as db:
            await StripeStore(db).update_attempt(
                attempt.id,
                payment_intent_id=session.payment_intent_id or None,
                checkout_session_id=session.checkout_session_id or None,
                status=session.status,
            )
            now = await Repository(db).invoice_by_id(invoice.id)
        if now is None or now.status != OPEN:
            # Voided while Stripe made it: the void's cancellation may have run before this
            # attempt had an id, so it is cancelled here, and the payer never sees it.
            await self.cancellation.cancel_payments_of(invoice.id)
            raise _not_open(invoice_id, now.status if now is not None else "gone")
        return PaymentView.of(invoice_id, session)

    async def _live_attempt(self, invoice: Row) -> Row:
        """The attempt to (re)use: the last one unless its PaymentIntent is dead, else a new
        one, committed with its key before Stripe hears of it. The invoice is locked and
        checked again: a void either comes first (and this fails) or sees the attempt."""
        for _ in range(3):
            try:
                async with self.database.transaction() as db:
                    locked = await Repository(db).invoice_by_id(invoice.id, for_update=True)
                    if locked is None or locked.status != OPEN:
                        raise _not_open(invoice.id, locked.status if locked else "gone")
                    store = StripeStore(db)
                    attempts = [
                        a
                        for a in await store.attempts_of(invoice.id)
                        if not a.idempotency_key.startswith(REFUND_PREFIX)
                    ]
                    if attempts and attempts[-1].status != CANCELED:
                        return attempts[-1]
                    number = await store.next_attempt(invoice.id)
                    await store.add_attempt(
                        {
                            "id": str(uuid.uuid4()),
                            "org_id": invoice.org_id,
                            "invoice_id": invoice.id,
                            "attempt": number,
                            "idempotency_key": payment_key(invoice.id, number),
                            "payment_intent_id": None,
                            "status": "pending",
                            "created_at": datetime.now(UTC),
                        }
                    )
                    return (await store.attempts_of(invoice.id))[-1]
            except IntegrityError:
                continue  # a concurrent call took this number: look again
        raise FailedPrecondition(f"invoice {invoice.id} is being paid concurrently")
