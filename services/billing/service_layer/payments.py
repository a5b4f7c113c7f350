"""Stripe payments, as one object for the entry points: paying (paying.py), refunding
(refunding.py), making a void invoice's started payments unpayable
(payment_cancellation.py), the stored-event loop and reconciliation (stripe_event_loop.py)
and the member's Stripe customer (stripe_customers.py). This module only wires them."""

from __future__ import annotations

from collections.abc import Callable

from services.billing.adapters.stripe_gateway import PaymentGateway
from services.billing.service_layer.paying import Paying, PaymentView
from services.billing.service_layer.payment_cancellation import PaymentCancellation
from services.billing.service_layer.payment_common import stripe_outage_as_unavailable
from services.billing.service_layer.refunding import Refunding, RefundView
from services.billing.service_layer.stripe_customers import ContactSource, StripeCustomers
from services.billing.service_layer.stripe_event_loop import StripeEventLoop
from services.common.db.engine import Database


class Payments:
    def __init__(
        self,
        database: Database,
        gateway: PaymentGateway,
        contacts: ContactSource,
        *,
        after_commit: Callable[[], None] = lambda: None,
        events_interval_s: float = 30.0,
        reconcile_window_s: int = 3 * 24 * 3600,
    ) -> None:
        self.customers = StripeCustomers(database, gateway, contacts)
        self.cancellation = PaymentCancellation(database, gateway)
        self.paying = Paying(database, gateway, self.customers, self.cancellation)
        self.refunding = Refunding(database, gateway, after_commit)
        self.events = StripeEventLoop(
            database,
            gateway,
            self.cancellation,
            after_commit=after_commit,
            events_interval_s=events_interval_s,
            reconcile_window_s=reconcile_window_s,
        )

    async def create_payment(self, org_id: str, invoice_id: str) -> PaymentView:
        with stripe_outage_as_unavailable():
            return await self.paying.create_payment(org_id, invoice_id)

    async def refund(
        self, org_id: str, invoice_id: str, amount_ore: int, reason: str
    ) -> RefundView:
        with stripe_outage_as_unavailable():
            return await self.refunding.refund(org_id, invoice_id, amount_ore, reason)

    async def cancel_payments_of(self, invoice_id: str) -> int:
        """After a void: the invoice's started payments are made unpayable at Stripe."""
        return await self.cancellation.cancel_payments_of(invoice_id)

    def wake(self) -> None:
        self.events.wake()

    async def next_event_pass(self) -> int:
        return await self.events.next_event_pass()

    async def process_pending_events(self, batch: int = 100) -> int:
        return await self.events.process_pending_events(batch)

    async def reconcile(self) -> int:
        return await self.events.reconcile()

    async def forget_customer(self, org_id: str, member_id: str) -> bool:
        return await self.customers.forget(org_id, member_id)
