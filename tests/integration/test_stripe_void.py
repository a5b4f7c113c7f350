"""Voiding an invoice makes a payment already started for it unpayable, against localstripe
and a real database: the PaymentIntent is cancelled at Stripe after the void commits; a void
while Stripe is unreachable stands and the reconcile pass cancels later; a payer quicker than
the void is booked on the void invoice and counted for a refund; a payment being started
while the invoice is voided is cancelled too."""

from __future__ import annotations

import asyncio

import pytest
import stripe
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.billing.adapters.orm import payment_attempts
from services.billing.domain.invoices import VOID
from services.billing.service_layer.billing_api import BillingApi
from services.billing.service_layer.payments import Payments
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition
from tests.integration.test_stripe_payments import VISA, pay
from tests.integration.test_stripe_support import (
    FEE,
    StripeFront,
    billing_db,
    gateway,
    invoice_row,
    issue_invoice,
    ledger_of,
    localstripe,
    membership,
    outbox_topics,
    payments,
    stripe_client,
    stripe_down,
    stripe_front,
)

__all__ = [  # fixtures
    "billing_db",
    "gateway",
    "localstripe",
    "membership",
    "payments",
    "stripe_client",
    "stripe_down",
    "stripe_front",
]


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def cancellations(outcome: str) -> float:
    return counted("billing_void_payment_cancellations_total", outcome=outcome)


async def attempt_statuses(db: Database, invoice_id: str) -> list[str]:
    async with db.sessions() as session:
        return list(
            await session.scalars(
                select(payment_attempts.c.status)
                .where(payment_attempts.c.invoice_id == invoice_id)
                .order_by(payment_attempts.c.attempt)
            )
        )


async def intent_status(client: stripe.StripeClient, payment_intent_id: str) -> str:
    return str((await client.v1.payment_intents.retrieve_async(payment_intent_id)).status)


async def test_void_cancels_the_started_payment_intent(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    canceled_before = cancellations("canceled")

    voided = await BillingApi(billing_db, payments).void("org-a", invoice_id)

    assert voided.status == VOID
    assert await intent_status(stripe_client, view.payment_intent_id) == "canceled"
    assert await attempt_statuses(billing_db, invoice_id) == ["canceled"]
    assert cancellations("canceled") - canceled_before == 1
    # The member holding the client secret can no longer pay.
    with pytest.raises(stripe.StripeError):
        await pay_strictly(stripe_client, view.payment_intent_id)
    with pytest.raises(FailedPrecondition):
        await payments.create_payment("org-a", invoice_id)


async def pay_strictly(client: stripe.StripeClient, payment_intent_id: str) -> None:
    method = await client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    await client.v1.payment_intents.confirm_async(payment_intent_id, {"payment_method": method.id})


async def test_void_stands_when_stripe_is_down_and_reconcile_cancels_later(
    billing_db: Database,
    payments: Payments,
    stripe_down: Payments,
    stripe_client: stripe.StripeClient,
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    failed_before = cancellations("failed")

    voided = await BillingApi(billing_db, stripe_down).void("org-a", invoice_id)

    assert voided.status == VOID
    assert (await invoice_row(billing_db, invoice_id)).status == VOID
    assert cancellations("failed") - failed_before == 1
    assert await intent_status(stripe_client, view.payment_intent_id) == "requires_payment_method"
    assert await attempt_statuses(billing_db, invoice_id) == ["requires_payment_method"]

    await payments.reconcile()  # Stripe is back

    assert await intent_status(stripe_client, view.payment_intent_id) == "canceled"
    assert await attempt_statuses(billing_db, invoice_id) == ["canceled"]
    await payments.reconcile()  # nothing left to retry
    assert await attempt_statuses(billing_db, invoice_id) == ["canceled"]


async def test_a_payer_quicker_than_the_void_is_booked_kept_void_and_counted(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    await pay(stripe_client, view.payment_intent_id, VISA)  # before the void reaches Stripe
    paid_first_before = cancellations("paid_first")
    closed_before = counted("billing_payments_on_closed_invoices_total")

    await BillingApi(billing_db, payments).void("org-a", invoice_id)
    await payments.reconcile()  # books it, as its webhook would
    await payments.reconcile()

    assert cancellations("paid_first") - paid_first_before == 1
    assert await attempt_statuses(billing_db, invoice_id) == ["succeeded"]
    assert (await invoice_row(billing_db, invoice_id)).status == VOID
    assert ("payment", -FEE, f"payment:{view.payment_intent_id}") in await ledger_of(
        billing_db, invoice_id
    )
    assert counted("billing_payments_on_closed_invoices_total") - closed_before == 1
    assert await outbox_topics(billing_db) == []  # membership does not activate anyone


async def test_a_payment_being_started_while_the_invoice_is_voided_is_cancelled(
    billing_db: Database,
    payments: Payments,
    stripe_front: StripeFront,
    stripe_client: stripe.StripeClient,
) -> None:
    invoice_id = await issue_invoice(billing_db)
    await payments.create_payment("org-a", await issue_invoice(billing_db))  # the customer
    arrived, release = stripe_front.hold("POST", "/v1/payment_intents")
    starting = asyncio.create_task(payments.create_payment("org-a", invoice_id))
    await asyncio.wait_for(arrived.wait(), 10)  # its attempt is committed, Stripe not answered

    await BillingApi(billing_db, payments).void("org-a", invoice_id)
    release.set()

    with pytest.raises(FailedPrecondition):
        await asyncio.wait_for(starting, 10)
    async with billing_db.sessions() as session:
        (intent_id,) = await session.scalars(
            select(payment_attempts.c.payment_intent_id).where(
                payment_attempts.c.invoice_id == invoice_id
            )
        )
    assert intent_id and await intent_status(stripe_client, intent_id) == "canceled"
    assert await attempt_statuses(billing_db, invoice_id) == ["canceled"]


async def test_a_void_invoice_cannot_start_a_payment(
    billing_db: Database, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    await BillingApi(billing_db, payments).void("org-a", invoice_id)
    with pytest.raises(FailedPrecondition):
        await payments.create_payment("org-a", invoice_id)
    assert await attempt_statuses(billing_db, invoice_id) == []
