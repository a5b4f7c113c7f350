"""Payments against localstripe (a stateful Stripe emulator) and a real database: the
customer made on first need, a paid and a declined card, refunds, reconciliation of a lost
webhook, a customer deleted in Stripe, and erasure reaching Stripe."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

import aiohttp
import pytest
import stripe
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.billing.adapters.orm import payment_attempts, stripe_customers
from services.billing.adapters.stripe_gateway import Contact, PaymentIntentsGateway, StripeConfig
from services.billing.domain.invoices import OPEN, PAID
from services.billing.service_layer.payments import Payments
from services.billing.service_layer.subject_store import InvoiceSubjectStore
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, NotFound, Unavailable
from services.common.topics import PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_SUCCEEDED
from tests.integration.test_stripe_support import (
    FEE,
    SECRET,
    Hook,
    billing_db,
    count,
    credit_note_count,
    event,
    gateway,
    hook,
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
    "hook",
    "localstripe",
    "membership",
    "payments",
    "stripe_client",
    "stripe_down",
    "stripe_front",
]

VISA = "4242424242424242"
DECLINED = "4000000000000341"  # localstripe declines this one at charge time


async def pay(client: stripe.StripeClient, payment_intent_id: str, card: str) -> None:
    """What Stripe.js does in the payer's browser with the client secret."""
    method = await client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    await client.v1.payment_intents.update_async(payment_intent_id, {"payment_method": method.id})
    with contextlib.suppress(stripe.CardError):  # a decline is what some tests are about
        await client.v1.payment_intents.confirm_async(payment_intent_id)


async def customers_of(db: Database) -> list[str]:
    """The Stripe customers members are linked to now."""
    async with db.sessions() as session:
        return list(
            await session.scalars(
                select(stripe_customers.c.customer_id).where(
                    stripe_customers.c.customer_id.is_not(None)
                )
            )
        )


async def test_first_payment_makes_a_customer_and_reuses_the_live_attempt(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient
) -> None:
    invoice_id = await issue_invoice(billing_db)

    first = await payments.create_payment("org-a", invoice_id)
    again = await payments.create_payment("org-a", invoice_id)

    assert first.payment_intent_id.startswith("pi_") and first.client_secret
    assert again.payment_intent_id == first.payment_intent_id
    (customer_id,) = await customers_of(billing_db)
    customer = await stripe_client.v1.customers.retrieve_async(customer_id)
    assert customer.email == "kari@example.no"  # fetched from membership, kept by Stripe
    intent = await stripe_client.v1.payment_intents.retrieve_async(first.payment_intent_id)
    assert intent.amount == FEE and intent.customer == customer_id
    assert intent.metadata.to_dict() == {"invoice_id": invoice_id, "org_id": "org-a"}
    async with billing_db.sessions() as session:
        keys = list(await session.scalars(select(payment_attempts.c.idempotency_key)))
    assert keys == [f"invoice:{invoice_id}:attempt:1"]


async def test_a_payment_started_while_stripe_is_away_is_unavailable_then_made_once(
    billing_db: Database, payments: Payments, stripe_down: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)

    with pytest.raises(Unavailable, match="Stripe is unavailable"):
        await stripe_down.create_payment("org-a", invoice_id)
    # The caller tries again once Stripe answers: the same attempt, one PaymentIntent.
    view = await payments.create_payment("org-a", invoice_id)

    assert view.payment_intent_id.startswith("pi_")
    async with billing_db.sessions() as session:
        keys = list(await session.scalars(select(payment_attempts.c.idempotency_key)))
    assert keys == [f"invoice:{invoice_id}:attempt:1"]
    assert (await invoice_row(billing_db, invoice_id)).status == OPEN


async def test_payment_for_another_org_or_unknown_invoice_is_not_found(
    billing_db: Database, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    with pytest.raises(NotFound):
        await payments.create_payment("org-b", invoice_id)
    with pytest.raises(NotFound):
        await payments.create_payment("org-a", "no-such-invoice")
    assert await customers_of(billing_db) == []


async def test_paid_card_reconciled_without_its_webhook(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    await pay(stripe_client, view.payment_intent_id, VISA)

    assert await payments.reconcile() == 1  # the webhook never came
    assert await payments.reconcile() == 0
    intent = await stripe_client.v1.payment_intents.retrieve_async(view.payment_intent_id)
    await hook.post(event("payment_intent.succeeded", intent.to_dict()))  # now it comes late
    await payments.process_pending_events()

    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.status == PAID
    assert [kind for kind, _, _ in await ledger_of(billing_db, invoice_id)] == [
        "invoice",
        "payment",
    ]
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]
    with pytest.raises(FailedPrecondition):
        await payments.create_payment("org-a", invoice_id)


async def test_declined_card_keeps_the_invoice_open(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    await pay(stripe_client, view.payment_intent_id, DECLINED)
    intent = await stripe_client.v1.payment_intents.retrieve_async(view.payment_intent_id)

    status, _ = await hook.post(event("payment_intent.payment_failed", intent.to_dict()))
    await payments.process_pending_events()

    assert status == 200
    assert (await invoice_row(billing_db, invoice_id)).status == OPEN
    assert await outbox_topics(billing_db) == [PAYMENT_FAILED.name]
    # The member may try another card on the same PaymentIntent.
    retry = await payments.create_payment("org-a", invoice_id)
    assert retry.payment_intent_id == view.payment_intent_id
    assert retry.status == "requires_payment_method"


async def test_refund_books_once_whether_stripe_or_its_webhook_confirms(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)
    await pay(stripe_client, view.payment_intent_id, VISA)
    await payments.reconcile()

    with pytest.raises(FailedPrecondition):
        await payments.refund("org-a", invoice_id, FEE + 1, "too much")
    part = await payments.refund("org-a", invoice_id, 20_000, "half season")
    rest = await payments.refund("org-a", invoice_id, 0, "left the club")
    intent = await stripe_client.v1.payment_intents.retrieve_async(
        view.payment_intent_id, {"expand": ["latest_charge"]}
    )
    charge_id = intent.latest_charge if isinstance(intent.latest_charge, str) else None
    charge = await stripe_client.v1.charges.retrieve_async(charge_id or intent.latest_charge.id)
    for _ in range(3):
        await hook.post(event("charge.refunded", charge.to_dict()))
    await payments.process_pending_events()

    assert (part.status, part.amount_ore, part.credit_note_number) == ("succeeded", 20_000, 1)
    assert (rest.status, rest.amount_ore, rest.credit_note_number) == ("succeeded", 30_000, 2)
    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.status == PAID and invoice.refunded_ore == FEE
    assert await credit_note_count(billing_db) == 2
    assert sum(amount for _, amount, _ in await ledger_of(billing_db, invoice_id)) == 0
    assert await outbox_topics(billing_db) == [
        PAYMENT_SUCCEEDED.name,
        PAYMENT_REFUNDED.name,
        PAYMENT_REFUNDED.name,
    ]
    with pytest.raises(FailedPrecondition):
        await payments.refund("org-a", invoice_id, 0, "nothing left")


async def test_customer_deleted_in_stripe_is_made_anew_next_time(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient, hook: Hook
) -> None:
    first_invoice = await issue_invoice(billing_db)
    await payments.create_payment("org-a", first_invoice)
    (customer_id,) = await customers_of(billing_db)
    deleted = await stripe_client.v1.customers.delete_async(customer_id)

    status, _ = await hook.post(event("customer.deleted", deleted.to_dict()))
    await payments.process_pending_events()
    assert status == 200
    assert await customers_of(billing_db) == []

    # Within Stripe's 24 h for the first customer's idempotency key (the front keeps it).
    second_invoice = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", second_invoice)
    (new_customer,) = await customers_of(billing_db)
    assert new_customer != customer_id
    assert not getattr(
        await stripe_client.v1.customers.retrieve_async(new_customer), "deleted", False
    )
    intent = await stripe_client.v1.payment_intents.retrieve_async(view.payment_intent_id)
    assert intent.customer == new_customer
    async with billing_db.sessions() as session:
        generation = await session.scalar(select(stripe_customers.c.generation))
    assert generation == 2


async def test_concurrent_first_payments_of_a_member_make_one_customer(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient
) -> None:
    invoices = [await issue_invoice(billing_db, member_id="member-2") for _ in range(3)]
    listed = {"email": "ola@x.no", "limit": 100}
    before = len((await stripe_client.v1.customers.list_async(listed)).data)  # type: ignore[arg-type]

    views = await asyncio.gather(*(payments.create_payment("org-a", i) for i in invoices))

    (customer_id,) = await customers_of(billing_db)
    for view in views:
        intent = await stripe_client.v1.payment_intents.retrieve_async(view.payment_intent_id)
        assert intent.customer == customer_id
    after = len((await stripe_client.v1.customers.list_async(listed)).data)  # type: ignore[arg-type]
    assert after - before == 1


async def test_erasure_deletes_the_stripe_customer(
    billing_db: Database, payments: Payments, stripe_client: stripe.StripeClient
) -> None:
    invoice_id = await issue_invoice(billing_db)
    await payments.create_payment("org-a", invoice_id)
    (customer_id,) = await customers_of(billing_db)
    store = InvoiceSubjectStore(billing_db, b"k" * 32, stripe_customers=payments)

    outcome = await store.erase("org-a", "member-1")

    assert [r.category for r in outcome.removed] == ["payment-provider-customer"]
    assert outcome.provider_records == {"stripe": [customer_id]}
    assert await count(billing_db, stripe_customers) == 0
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.customers.retrieve_async(customer_id)
    [kept] = outcome.kept
    assert kept.category == "payment-records" and kept.pseudonymised and kept.delete_after
    # The first reply may be lost: the retry answers the same receipt, Stripe's customer and
    # the payment records kept (with their basis and date) included, marked as a repeat.
    again = await store.erase("org-a", "member-1")
    assert again.repeat and not outcome.repeat
    assert replace(again, repeat=False) == outcome


async def test_a_burst_is_throttled_not_failed(localstripe: str) -> None:
    gateway = PaymentIntentsGateway(
        StripeConfig(api_key="sk_test_local", api_base=localstripe, requests_per_s=5)
    )
    ok_before = requests_counted("create_customer", "ok")
    started = time.monotonic()
    try:
        made = await asyncio.gather(
            *(
                gateway.create_customer(Contact("", "", ""), {"org_id": "org-z"}, f"customer:{i}")
                for i in range(10)
            )
        )
    finally:
        await gateway.close()
    assert len(set(made)) == 10
    assert requests_counted("create_customer", "ok") - ok_before == 10
    # 5 a second: the second half had to wait its turn (a lower bound, never flaky).
    assert time.monotonic() - started >= 0.8


def requests_counted(operation: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "billing_stripe_requests_total", {"operation": operation, "outcome": outcome}
        )
        or 0.0
    )


async def test_webhook_signed_and_sent_by_localstripe_pays_the_invoice(
    billing_db: Database,
    payments: Payments,
    stripe_client: stripe.StripeClient,
    hook: Hook,
    localstripe: str,
) -> None:
    await send_webhooks_to(localstripe, str(hook.client.make_url("/stripe/webhook")))
    try:
        invoice_id = await issue_invoice(billing_db)
        view = await payments.create_payment("org-a", invoice_id)
        await pay(stripe_client, view.payment_intent_id, VISA)

        deadline = time.monotonic() + 15  # localstripe waits a second before it sends
        while (await invoice_row(billing_db, invoice_id)).status != PAID:
            assert time.monotonic() < deadline, "the webhook never paid the invoice"
            await payments.process_pending_events()
            await asyncio.sleep(0.1)
        assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]
    finally:
        # Nowhere (the discard port), so later tests' servers never get these events.
        await send_webhooks_to(localstripe, "http://127.0.0.1:9/")


async def send_webhooks_to(localstripe: str, url: str) -> None:
    async with aiohttp.ClientSession() as http:
        registered = await http.post(
            f"{localstripe}/_config/webhooks/billing-test",
            data={
                "url": url,
                "secret": SECRET,
                "events[]": ["payment_intent.succeeded", "payment_intent.payment_failed"],
            },
            headers={"Authorization": "Bearer sk_test_local"},
        )
        assert registered.status == 200
