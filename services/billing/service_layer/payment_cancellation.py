"""A voided invoice must not be payable: its started PaymentIntents are cancelled (Checkout
Sessions expired) at Stripe, after the void committed and outside its transaction.

Stripe being unreachable does not undo the void: the failure is logged and counted and the
reconcile pass retries every void invoice that still has a live attempt. A payer who was
quicker than the cancellation has paid: that payment is booked with the invoice kept void, and
counted and logged for the org to refund (stripe_events.apply_payment).
"""

from __future__ import annotations

from services.billing.adapters.stripe_gateway import CANCELED as STRIPE_CANCELED
from services.billing.adapters.stripe_gateway import PaymentGateway
from services.billing.adapters.stripe_store import CANCELED, SUCCEEDED, StripeStore
from services.billing.domain.invoices import VOID
from services.billing.metrics import VOID_PAYMENT_CANCELLATIONS
from services.billing.service_layer.payment_common import cancel_key
from services.common.db.engine import Database
from services.common.logging import get_logger

log = get_logger(__name__)


class PaymentCancellation:
    def __init__(self, database: Database, gateway: PaymentGateway) -> None:
        self.database = database
        self.gateway = gateway

    async def cancel_payments_of(self, invoice_id: str) -> int:
        """Makes every live attempt of the (closed) invoice unpayable; how many it cancelled.
        Never raises for one attempt's failure: that attempt stays live for the retry pass."""
        try:
            async with self.database.sessions() as db:
                attempts = await StripeStore(db).live_payment_attempts(invoice_id)
        except Exception as exc:  # the void committed: it stands, the retry pass follows
            VOID_PAYMENT_CANCELLATIONS.labels("failed").inc()
            log.warning(
                "void_payment_cancel_failed", invoice_id=invoice_id, error=type(exc).__name__
            )
            return 0
        canceled = 0
        for attempt in attempts:
            try:
                outcome = await self.gateway.cancel_payment(
                    payment_intent_id=attempt.payment_intent_id or "",
                    checkout_session_id=attempt.checkout_session_id or "",
                    idempotency_key=cancel_key(invoice_id, attempt.attempt),
                )
            except Exception as exc:  # Stripe down or refusing: the void stands regardless
                VOID_PAYMENT_CANCELLATIONS.labels("failed").inc()
                log.warning(
                    "void_payment_cancel_failed",
                    invoice_id=invoice_id,
                    attempt=attempt.attempt,
                    error=type(exc).__name__,
                )
                continue
            paid_first = outcome != STRIPE_CANCELED
            async with self.database.transaction() as db:
                await StripeStore(db).update_attempt(
                    attempt.id, status=SUCCEEDED if paid_first else CANCELED
                )
            if paid_first:
                # Booked by its webhook (or reconciliation), counted there for a refund.
                VOID_PAYMENT_CANCELLATIONS.labels("paid_first").inc()
                log.warning("void_invoice_paid_first", invoice_id=invoice_id)
            else:
                VOID_PAYMENT_CANCELLATIONS.labels("canceled").inc()
                canceled += 1
        return canceled

    async def retry_void_invoices(self, batch: int = 100) -> int:
        """The reconcile pass: void invoices whose cancellation did not reach Stripe."""
        async with self.database.sessions() as db:
            invoice_ids = await StripeStore(db).invoices_with_live_attempts(VOID, batch)
        canceled = 0
        for invoice_id in invoice_ids:
            canceled += await self.cancel_payments_of(invoice_id)
        if invoice_ids:
            log.info("void_payment_cancels_retried", invoices=len(invoice_ids), canceled=canceled)
        return canceled
