"""Refunds Stripe reports `pending`, against localstripe (its answer amended to pending, as
Stripe answers for some payment methods) and a real database: booked once when a refund
update event says it succeeded, whichever of the refund events and charge.refunded come and
how often; a failed one is recorded on our refund request and never booked."""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select

from services.billing.adapters.orm import payment_attempts
from services.billing.service_layer.payments import Payments
from services.common.db.engine import Database
from services.common.topics import PAYMENT_REFUNDED, PAYMENT_SUCCEEDED
from tests.integration.test_stripe_payments import VISA, pay
from tests.integration.test_stripe_support import (
    FEE,
    Hook,
    StripeFront,
    billing_db,
    credit_note_count,
    event,
    events_counted,
    gateway,
    hook,
    invoice_row,
    issue_invoice,
    ledger_of,
    localstripe,
    membership,
    outbox_topics,
    payments,
    stored_events,
    stripe_client,
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
    "stripe_front",
]

PART = 20_000


async def paid_invoice(
    db: Database, payments: Payments, client: stripe.StripeClient
) -> tuple[str, str]:
    invoice_id = await issue_invoice(db)
    view = await payments.create_payment("org-a", invoice_id)
    await pay(client, view.payment_intent_id, VISA)
    await payments.reconcile()
    return invoice_id, view.payment_intent_id


async def refund_requests(db: Database, invoice_id: str) -> list[tuple[str | None, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(payment_attempts.c.refund_id, payment_attempts.c.status)
            .where(
                payment_attempts.c.invoice_id == invoice_id,
                payment_attempts.c.idempotency_key.like("refund:%"),
            )
            .order_by(payment_attempts.c.attempt)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def pending_refund(
    db: Database, payments: Payments, front: StripeFront, client: stripe.StripeClient
) -> tuple[str, str, dict[str, Any]]:
    """A paid invoice and a refund of PART Stripe answered pending: (invoice, refund id, the
    refund as Stripe's events carry it)."""
    invoice_id, _ = await paid_invoice(db, payments, client)
    front.amend("POST", "/v1/refunds", status="pending")
    view = await payments.refund("org-a", invoice_id, PART, "moved away")
    assert (view.status, view.credit_note_number) == ("pending", 0)
    ((refund_id, status),) = await refund_requests(db, invoice_id)
    assert refund_id and status == "refund_pending"
    refund = (await client.v1.refunds.retrieve_async(refund_id)).to_dict()
    return invoice_id, refund_id, refund


async def test_a_pending_refund_is_booked_once_when_stripe_says_it_succeeded(
    billing_db: Database,
    payments: Payments,
    stripe_front: StripeFront,
    stripe_client: stripe.StripeClient,
    hook: Hook,
) -> None:
    invoice_id, refund_id, refund = await pending_refund(
        billing_db, payments, stripe_front, stripe_client
    )
    assert (await invoice_row(billing_db, invoice_id)).refunded_ore == 0
    pending_event = event("charge.refund.updated", {**refund, "status": "pending"})
    await hook.post(pending_event)
    await payments.process_pending_events()
    assert await credit_note_count(billing_db) == 0

    succeeded = {**refund, "status": "succeeded"}
    for event_type in ("charge.refund.updated", "refund.updated", "charge.refund.updated"):
        await hook.post(event(event_type, succeeded))
    await payments.process_pending_events()
    charge = await stripe_client.v1.charges.retrieve_async(refund["charge"])
    await hook.post(event("charge.refunded", charge.to_dict()))  # it lists the refund too
    await payments.process_pending_events()

    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.refunded_ore == PART
    assert await credit_note_count(billing_db) == 1
    assert ("refund", PART, f"refund:{refund_id}") in await ledger_of(billing_db, invoice_id)
    assert await refund_requests(billing_db, invoice_id) == [(refund_id, "refund_succeeded")]
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name, PAYMENT_REFUNDED.name]
    outcomes = sorted(row.outcome for row in await stored_events(billing_db))
    assert outcomes == ["ignored", "ignored", "ignored", "ignored", "processed"]


async def test_a_failed_refund_is_recorded_and_never_booked(
    billing_db: Database,
    payments: Payments,
    stripe_front: StripeFront,
    stripe_client: stripe.StripeClient,
    hook: Hook,
) -> None:
    invoice_id, refund_id, refund = await pending_refund(
        billing_db, payments, stripe_front, stripe_client
    )
    failed_before = events_counted("refund.failed", "refund_failed")
    failed = {**refund, "status": "failed", "failure_reason": "expired_or_canceled_card"}

    await hook.post(event("refund.failed", failed))
    await hook.post(event("charge.refund.updated", failed))
    await payments.process_pending_events()

    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.refunded_ore == 0 and invoice.status == "paid"
    assert await credit_note_count(billing_db) == 0
    assert [kind for kind, _, _ in await ledger_of(billing_db, invoice_id)] == [
        "invoice",
        "payment",
    ]
    assert await refund_requests(billing_db, invoice_id) == [(refund_id, "refund_failed")]
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]
    assert events_counted("refund.failed", "refund_failed") - failed_before == 1
    assert {row.outcome for row in await stored_events(billing_db)} == {"refund_failed"}


async def test_a_refund_update_before_the_payment_event_books_both_in_order(
    billing_db: Database, payments: Payments, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)  # our attempt links the PI
    refund = {
        "id": "re_early_update",
        "object": "refund",
        "amount": FEE,
        "status": "succeeded",
        "payment_intent": view.payment_intent_id,
        "metadata": {"invoice_id": invoice_id, "org_id": "org-a"},
    }

    await hook.post(event("refund.updated", refund))
    await payments.process_pending_events()

    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.status == "paid" and invoice.refunded_ore == FEE
    assert sum(amount for _, amount, _ in await ledger_of(billing_db, invoice_id)) == 0
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name, PAYMENT_REFUNDED.name]


async def test_a_refund_update_of_another_org_or_no_invoice_is_not_applied(
    billing_db: Database, payments: Payments, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    foreign = {
        "id": "re_foreign",
        "object": "refund",
        "amount": FEE,
        "status": "succeeded",
        "payment_intent": "pi_unknown",
        "metadata": {"invoice_id": invoice_id, "org_id": "org-b"},
    }
    await hook.post(event("charge.refund.updated", foreign))
    await hook.post(event("refund.updated", {**foreign, "metadata": {}}))
    await payments.process_pending_events()

    assert {row.outcome for row in await stored_events(billing_db)} == {"unknown_object"}
    assert (await invoice_row(billing_db, invoice_id)).refunded_ore == 0
    assert await credit_note_count(billing_db) == 0
