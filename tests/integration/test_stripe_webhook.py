"""POST /stripe/webhook on the production route (faust's web app on a real aiohttp server),
with a real database (SQLite and PostgreSQL), events signed by the Stripe SDK's own helper:
refusals store nothing; duplicates and any order end in one correct state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kontingent_cli.devstack import free_port
from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import OPEN, PAID, UNCOLLECTIBLE, VOID
from services.billing.service_layer.payments import Payments
from services.common.db.engine import Database
from services.common.topics import PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_SUCCEEDED
from tests.integration.test_stripe_support import (
    FEE,
    OLD_SECRET,
    Hook,
    billing_db,
    credit_note_count,
    event,
    events_counted,
    gateway,
    hook,
    intent,
    invoice_row,
    issue_invoice,
    ledger_of,
    localstripe,
    membership,
    outbox_topics,
    payments,
    serving_webhook,
    stored_events,
    stripe_front,
)

__all__ = [  # fixtures
    "billing_db",
    "gateway",
    "hook",
    "localstripe",
    "membership",
    "payments",
    "stripe_front",
]


async def test_ten_deliveries_of_one_event_book_one_payment(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    succeeded = event("payment_intent.succeeded", intent("pi_dup1", invoice_id))
    duplicates_before = events_counted("payment_intent.succeeded", "duplicate")

    answers = await asyncio.gather(*(hook.post(succeeded) for _ in range(10)))
    await payments.process_pending_events()
    await hook.post(succeeded)  # and once more after it was processed
    await payments.process_pending_events()

    assert {status for status, _ in answers} == {200}
    assert len(await stored_events(billing_db)) == 1
    assert events_counted("payment_intent.succeeded", "duplicate") - duplicates_before == 10
    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.status == PAID and invoice.paid_at is not None
    assert await ledger_of(billing_db, invoice_id) == [
        ("invoice", FEE, f"invoice:{invoice_id}"),
        ("payment", -FEE, "payment:pi_dup1"),
    ]
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]


async def test_failure_after_success_leaves_the_invoice_paid(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    now = int(time.time())
    # Stripe sent the failure first (an earlier card), but it is delivered after the success.
    await hook.post(event("payment_intent.succeeded", intent("pi_ord1", invoice_id), now))
    await payments.process_pending_events()
    failed = intent("pi_ord1", invoice_id, status="requires_payment_method")
    failed["last_payment_error"] = {"code": "card_declined", "decline_code": "insufficient_funds"}
    status, _ = await hook.post(event("payment_intent.payment_failed", failed, now - 5))
    await payments.process_pending_events()

    assert status == 200
    assert (await invoice_row(billing_db, invoice_id)).status == PAID
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]


async def test_failure_then_success_tells_membership_both(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    failed = intent("pi_ord2", invoice_id, status="requires_payment_method")
    failed["last_payment_error"] = {"code": "card_declined"}
    await hook.post(event("payment_intent.payment_failed", failed))
    await payments.process_pending_events()
    assert (await invoice_row(billing_db, invoice_id)).status == OPEN

    await hook.post(event("payment_intent.succeeded", intent("pi_ord2", invoice_id)))
    await payments.process_pending_events()

    assert (await invoice_row(billing_db, invoice_id)).status == PAID
    assert await outbox_topics(billing_db) == [PAYMENT_FAILED.name, PAYMENT_SUCCEEDED.name]


async def test_refund_before_success_ends_paid_and_refunded_once(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    view = await payments.create_payment("org-a", invoice_id)  # our attempt links the PI
    charge = {
        "id": "ch_early1",
        "object": "charge",
        "amount": FEE,
        "amount_captured": FEE,
        "currency": "nok",
        "payment_intent": view.payment_intent_id,
        "metadata": {},
        "refunds": {
            "object": "list",
            "has_more": False,
            "data": [{"id": "re_early1", "amount": FEE, "status": "succeeded"}],
        },
    }
    refunded = event("charge.refunded", charge)
    for _ in range(3):
        await hook.post(refunded)
    await payments.process_pending_events()
    succeeded = intent(view.payment_intent_id, invoice_id)
    await hook.post(event("payment_intent.succeeded", succeeded))
    await payments.process_pending_events()

    invoice = await invoice_row(billing_db, invoice_id)
    assert invoice.status == PAID and invoice.refunded_ore == FEE
    kinds = [kind for kind, _, _ in await ledger_of(billing_db, invoice_id)]
    assert sorted(kinds) == ["credit_note", "invoice", "payment", "refund"]
    assert sum(amount for _, amount, _ in await ledger_of(billing_db, invoice_id)) == 0
    assert await credit_note_count(billing_db) == 1
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name, PAYMENT_REFUNDED.name]


async def test_forged_signature_is_refused_and_nothing_stored(
    billing_db: Database, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    status, reply = await hook.post(
        event("payment_intent.succeeded", intent("pi_forged", invoice_id)), secret="whsec_wrong"
    )
    assert (status, reply) == (400, {"error": "signature_mismatch"})
    status, reply = await hook.post(
        event("payment_intent.succeeded", intent("pi_forged", invoice_id)), signature="garbage"
    )
    assert status == 400
    assert await stored_events(billing_db) == []
    assert (await invoice_row(billing_db, invoice_id)).status == OPEN


async def test_missing_signature_is_refused(billing_db: Database, hook: Hook) -> None:
    response = await hook.client.post("/stripe/webhook", data=b"{}")
    assert response.status == 400
    assert await response.json() == {"error": "missing_signature"}


async def test_expired_timestamp_is_refused(billing_db: Database, hook: Hook) -> None:
    invoice_id = await issue_invoice(billing_db)
    status, reply = await hook.post(
        event("payment_intent.succeeded", intent("pi_old", invoice_id)),
        timestamp=int(time.time()) - 301,
    )
    assert (status, reply) == (400, {"error": "timestamp_expired"})
    assert await stored_events(billing_db) == []


async def test_malformed_json_is_refused(billing_db: Database, hook: Hook) -> None:
    status, reply = await hook.post(b'{"id": "evt_1", "type": ')
    assert (status, reply) == (400, {"error": "malformed_json"})
    status, reply = await hook.post(b'["not", "an", "event"]')
    assert (status, reply) == (400, {"error": "not_a_stripe_event"})
    assert await stored_events(billing_db) == []


async def test_signed_json_nested_too_deep_is_refused(billing_db: Database, hook: Hook) -> None:
    """Found by the fuzzer: deep nesting made json.loads raise RecursionError, a 500."""
    status, reply = await hook.post(b"[" * 5000)
    assert (status, reply) == (400, {"error": "malformed_json"})
    assert await stored_events(billing_db) == []


@pytest.mark.parametrize(
    "obj",
    [
        intent("pi_m", "x", metadata=["not", "an", "object"]),
        intent("pi_m", "x", last_payment_error="card_declined"),
        intent(["pi_m"], "x"),
        intent("pi_m", "x", amount_received="100"),
    ],
    ids=["metadata-list", "error-string", "id-list", "amount-string"],
)
async def test_signed_event_with_malformed_object_is_refused(
    billing_db: Database, hook: Hook, obj: dict[str, Any]
) -> None:
    """Found by the fuzzer: correctly signed, but fields not of Stripe's types were a 500, or
    were stored and failed their processing on every retry."""
    status, reply = await hook.post(event("payment_intent.succeeded", obj))
    assert (status, reply) == (400, {"error": "malformed_object"})
    assert await stored_events(billing_db) == []


async def test_signed_event_created_beyond_64_bits_is_refused(
    billing_db: Database, hook: Hook
) -> None:
    status, reply = await hook.post(
        event("payment_intent.succeeded", intent("pi_c", "x"), created=2**64)
    )
    assert (status, reply) == (400, {"error": "not_a_stripe_event"})
    assert await stored_events(billing_db) == []


async def test_oversized_body_is_refused(billing_db: Database, hook: Hook) -> None:
    big = event("payment_intent.succeeded", intent("pi_big", "x", padding="a" * 300_000))
    status, reply = await hook.post(big)
    assert (status, reply) == (400, {"error": "body_too_large"})
    assert await stored_events(billing_db) == []


async def test_secret_under_rotation_is_accepted(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    status, _ = await hook.post(
        event("payment_intent.succeeded", intent("pi_rot", invoice_id)), secret=OLD_SECRET
    )
    await payments.process_pending_events()
    assert status == 200
    assert (await invoice_row(billing_db, invoice_id)).status == PAID


async def test_unknown_types_and_objects_are_acknowledged_and_counted(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    ignored_before = events_counted("other", "ignored")
    unknown_before = events_counted("payment_intent.succeeded", "unknown_object")
    foreign = {"id": "pi_not_ours", "amount": 100, "currency": "nok", "metadata": {}}

    answers = [
        await hook.post(event("invoice.finalized", {"id": "in_123", "object": "invoice"})),
        await hook.post(event("payment_intent.succeeded", foreign)),
    ]
    await payments.process_pending_events()

    assert [status for status, _ in answers] == [200, 200]
    assert events_counted("other", "ignored") - ignored_before == 1
    assert events_counted("payment_intent.succeeded", "unknown_object") - unknown_before == 1
    rows = await stored_events(billing_db)
    assert all(row.processed_at is not None for row in rows)  # none left failing
    assert await outbox_topics(billing_db) == []


async def test_stored_event_keeps_only_what_billing_acts_on(
    billing_db: Database, hook: Hook
) -> None:
    invoice_id = await issue_invoice(billing_db)
    pi = intent("pi_pii", invoice_id, receipt_email="kari@example.no")
    pi["metadata"]["note"] = "Kari Nordmann"
    await hook.post(event("payment_intent.succeeded", pi))
    (row,) = await stored_events(billing_db)
    assert "kari" not in row.data.lower()


async def test_a_stored_event_wakes_the_processing_loop(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    payments.events.events_interval_s = 30.0  # so only the wake-up can make the pass run soon
    loop_pass = asyncio.create_task(payments.next_event_pass())
    await asyncio.sleep(0)
    await hook.post(event("payment_intent.succeeded", intent("pi_wake", invoice_id)))
    assert await asyncio.wait_for(loop_pass, 10) == 1
    assert (await invoice_row(billing_db, invoice_id)).status == PAID


async def test_payment_on_a_void_invoice_is_booked_but_it_stays_void(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    async with billing_db.transaction() as session:
        await Repository(session).update_invoice(invoice_id, status=VOID)

    await hook.post(event("payment_intent.succeeded", intent("pi_void", invoice_id)))
    await payments.process_pending_events()

    assert (await invoice_row(billing_db, invoice_id)).status == VOID
    assert ("payment", -FEE, "payment:pi_void") in await ledger_of(billing_db, invoice_id)
    assert await outbox_topics(billing_db) == []  # membership is not told to activate


async def test_payment_on_an_uncollectible_invoice_makes_it_paid(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db)
    async with billing_db.transaction() as session:
        await Repository(session).update_invoice(invoice_id, status=UNCOLLECTIBLE)

    await hook.post(event("payment_intent.succeeded", intent("pi_late", invoice_id)))
    await payments.process_pending_events()

    assert (await invoice_row(billing_db, invoice_id)).status == PAID
    assert await outbox_topics(billing_db) == [PAYMENT_SUCCEEDED.name]


async def test_event_naming_another_org_is_not_applied(
    billing_db: Database, hook: Hook, payments: Payments
) -> None:
    invoice_id = await issue_invoice(billing_db, org_id="org-a")
    await hook.post(event("payment_intent.succeeded", intent("pi_x", invoice_id, "org-b")))
    await payments.process_pending_events()
    assert (await invoice_row(billing_db, invoice_id)).status == OPEN


async def test_an_event_while_the_database_is_away_is_answered_503_to_be_sent_again() -> None:
    away = Database(f"postgresql+asyncpg://kontingent@127.0.0.1:{free_port()}/billing")
    try:
        async with serving_webhook(away) as served:
            status, body = await served.post(event("payment_intent.succeeded", intent("pi_x", "i")))
            retry_after = served.last_headers.get("Retry-After")
    finally:
        await away.close()

    # Stripe retries a delivery that was not answered 2xx: nothing is lost, nothing stored.
    assert status == 503
    assert body == {"error": "database unavailable, try again shortly"}
    assert retry_after == "5"
