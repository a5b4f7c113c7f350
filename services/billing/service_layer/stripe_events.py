"""What a Stripe event does to billing. Each effect runs in the caller's transaction with its
outbox event, and is keyed so that it happens once: a payment by `payment:<pi>`, a refund by
`refund:<re>` (ledger source_ref and credit-note refund id), whether charge.refunded or a
refund update event books it. So the same event delivered ten
times, events in any order, and reconciliation replaying a payment all end in one state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.v1 import events_pb2 as billing_events
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.repository import Repository
from services.billing.adapters.stripe_store import StripeStore
from services.billing.domain.invoices import OPEN, PAID, UNCOLLECTIBLE
from services.billing.domain.ledger import PAYMENT, REFUND
from services.billing.service_layer.credit_notes import issue_credit_note
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.topics import PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_SUCCEEDED

log = get_logger(__name__)

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
REFUNDED = "charge.refunded"
DISPUTED = "charge.dispute.created"
CUSTOMER_DELETED = "customer.deleted"
# A refund's status changed (pending to succeeded or failed): Stripe sends charge.refund.updated
# (some payment methods) and refund.updated / refund.failed (all, from API 2024-10-28).
REFUND_UPDATED = "charge.refund.updated"
REFUND_EVENTS = frozenset({REFUND_UPDATED, "refund.updated", "refund.failed"})
HANDLED = frozenset({SUCCEEDED, FAILED, REFUNDED, DISPUTED, CUSTOMER_DELETED, *REFUND_EVENTS})

# Outcomes, also the `outcome` label of billing_stripe_events_total.
PROCESSED = "processed"
IGNORED = "ignored"  # a type we do not act on, or a state it no longer applies to
UNKNOWN_OBJECT = "unknown_object"  # not ours: no invoice behind it
DUPLICATE = "duplicate"
PAID_ON_CLOSED_INVOICE = "paid_on_closed_invoice"  # booked; the org refunds it
REFUND_FAILED = "refund_failed"  # recorded, never booked


def _our_ids(obj: dict[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata") or {}
    return {k: str(metadata[k]) for k in ("invoice_id", "org_id") if metadata.get(k)}


def _id_of(value: Any) -> str:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def essentials(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The fields billing acts on. The rest of the object (billing details, card data, the
    customer's email) is never stored."""
    if event_type.startswith("payment_intent."):
        error = obj.get("last_payment_error") or {}
        return {
            "id": obj.get("id"),
            "amount": obj.get("amount_received") or obj.get("amount") or 0,
            "currency": obj.get("currency") or "",
            "status": obj.get("status") or "",
            "metadata": _our_ids(obj),
            "decline_code": error.get("decline_code") or error.get("code") or "",
        }
    if event_type == REFUNDED:
        listed = obj.get("refunds") or {}
        complete = isinstance(listed, dict) and "data" in listed and not listed.get("has_more")
        return {
            "id": obj.get("id"),
            "payment_intent": _id_of(obj.get("payment_intent")),
            "amount": obj.get("amount_captured") or obj.get("amount") or 0,
            "currency": obj.get("currency") or "",
            "metadata": _our_ids(obj),
            # None: the event did not list them all; the processor asks Stripe.
            "refunds": [refund_fields(r) for r in listed["data"]] if complete else None,
        }
    if event_type in REFUND_EVENTS:
        return {
            **refund_fields(obj),
            "payment_intent": _id_of(obj.get("payment_intent")),
            "metadata": _our_ids(obj),
            "failure_reason": obj.get("failure_reason") or "",
        }
    if event_type == DISPUTED:
        return {
            "id": obj.get("id"),
            "charge": _id_of(obj.get("charge")),
            "payment_intent": _id_of(obj.get("payment_intent")),
            "amount": obj.get("amount") or 0,
            "reason": obj.get("reason") or "",
        }
    return {"id": obj.get("id")}


def refund_fields(refund: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": refund.get("id"),
        "amount": int(refund.get("amount") or 0),
        "status": refund.get("status"),
    }


async def find_invoice(
    session: AsyncSession, payment_intent_id: str, metadata: dict[str, str]
) -> Row | None:
    """Our invoice behind a PaymentIntent: by our attempt row, else by the metadata we set
    (Checkout, or an attempt row lost with a crash). The org in the metadata must match."""
    attempt = await StripeStore(session).attempt_by_intent(payment_intent_id)
    invoice_id = attempt.invoice_id if attempt is not None else metadata.get("invoice_id")
    if not invoice_id:
        return None
    invoice = await Repository(session).invoice_by_id(invoice_id, for_update=True)
    if invoice is None or metadata.get("org_id", invoice.org_id) != invoice.org_id:
        return None
    return invoice


async def apply_payment(
    session: AsyncSession, payment_intent_id: str, amount_ore: int, metadata: dict[str, str]
) -> str:
    """A PaymentIntent succeeded: book it once; an open (or written-off) invoice becomes paid
    and membership hears of it. The webhook, reconciliation and an early refund all come here."""
    invoice = await find_invoice(session, payment_intent_id, metadata)
    if invoice is None:
        return UNKNOWN_OBJECT
    now = datetime.now(UTC)
    booked = await Repository(session).book_on(
        invoice, PAYMENT, f"payment:{payment_intent_id}", amount_ore, now
    )
    await StripeStore(session).set_intent_status(payment_intent_id, "succeeded")
    if not booked:
        return IGNORED  # this PaymentIntent is booked already
    if invoice.status not in (OPEN, UNCOLLECTIBLE):
        # Void (paid before its cancellation reached Stripe), or paid by another
        # PaymentIntent: the money is real and stays booked; the invoice keeps its state,
        # membership is not told, and the org is to refund it.
        log.error(
            "payment_on_closed_invoice",
            invoice_id=invoice.id,
            org_id=invoice.org_id,
            status=invoice.status,
            payment_intent_id=payment_intent_id,
            action="refund it",
        )
        return PAID_ON_CLOSED_INVOICE
    await Repository(session).update_invoice(
        invoice.id, status=PAID, paid_at=now, next_reminder_on=None
    )
    await add_event(
        session,
        PAYMENT_SUCCEEDED,
        new_envelope(
            "billing.payment-succeeded",
            billing_events.PaymentSucceeded(
                invoice_id=invoice.id,
                member_id=invoice.member_ref,
                org_id=invoice.org_id,
                amount_ore=amount_ore,
                currency=invoice.currency,
                invoice_number=invoice.number,
            ),
            org_id=invoice.org_id,
            subject_id=invoice.member_ref,
        ),
    )
    return PROCESSED


async def apply_failure(session: AsyncSession, data: dict[str, Any]) -> str:
    invoice = await find_invoice(session, data["id"], data.get("metadata") or {})
    if invoice is None:
        return UNKNOWN_OBJECT
    if invoice.status != OPEN or invoice.paid_at is not None:
        return IGNORED  # a late failure after the success changes nothing
    await StripeStore(session).set_intent_status(data["id"], "failed")
    await add_event(
        session,
        PAYMENT_FAILED,
        new_envelope(
            "billing.payment-failed",
            billing_events.PaymentFailed(
                invoice_id=invoice.id,
                member_id=invoice.member_ref,
                org_id=invoice.org_id,
                decline_code=str(data.get("decline_code") or "")[:64],
            ),
            org_id=invoice.org_id,
            subject_id=invoice.member_ref,
        ),
    )
    return PROCESSED


async def apply_refund(
    session: AsyncSession, invoice: Row, refund_id: str, amount_ore: int, reason: str
) -> tuple[str, int] | None:
    """Books one succeeded refund once: ledger entry, credit note, refunded amount, event.
    Returns (credit note id, number), or None when it was booked already."""
    now = datetime.now(UTC)
    note = await issue_credit_note(session, invoice, amount_ore, reason, now, refund_id=refund_id)
    if note is None:
        return None
    await Repository(session).book_on(invoice, REFUND, f"refund:{refund_id}", amount_ore, now)
    current = await Repository(session).invoice_by_id(invoice.id)
    refunded = (current.refunded_ore if current is not None else invoice.refunded_ore) or 0
    await Repository(session).update_invoice(invoice.id, refunded_ore=refunded + amount_ore)
    await add_event(
        session,
        PAYMENT_REFUNDED,
        new_envelope(
            "billing.payment-refunded",
            billing_events.PaymentRefunded(
                invoice_id=invoice.id,
                member_id=invoice.member_ref,
                org_id=invoice.org_id,
                amount_ore=amount_ore,
                currency=invoice.currency,
                credit_note_number=note.number,
            ),
            org_id=invoice.org_id,
            subject_id=invoice.member_ref,
        ),
    )
    return note.credit_note_id, note.number


async def apply_charge_refunded(session: AsyncSession, data: dict[str, Any]) -> str:
    """A refunded charge was paid: if its success event has not come yet, the payment is
    booked first (the same path), so a refund that overtakes it still ends right."""
    intent = data.get("payment_intent") or ""
    metadata = data.get("metadata") or {}
    invoice = await find_invoice(session, intent, metadata) if intent else None
    if invoice is None:
        return UNKNOWN_OBJECT
    # Booked once by its source_ref: a no-op when the success event came first.
    await apply_payment(session, intent, int(data.get("amount") or 0), metadata)
    booked = 0
    for refund in data.get("refunds") or []:
        if refund.get("status") != "succeeded" or not refund.get("id"):
            continue  # pending or failed: a later charge.refunded or refund event brings it
        if await apply_refund(session, invoice, refund["id"], refund["amount"], "refund"):
            booked += 1
    return PROCESSED if booked else IGNORED


async def apply_refund_update(session: AsyncSession, data: dict[str, Any]) -> str:
    """A refund reached a status: succeeded is booked (once, by its refund id, whichever of
    this and charge.refunded comes first); failed or canceled is recorded on our refund
    request and never booked; pending waits for the next update."""
    intent = data.get("payment_intent") or ""
    invoice = await find_invoice(session, intent, data.get("metadata") or {})
    refund_id, status = str(data.get("id") or ""), str(data.get("status") or "")
    if invoice is None or not refund_id:
        return UNKNOWN_OBJECT
    if status == "succeeded":
        if not intent:
            return UNKNOWN_OBJECT  # not a refund of a PaymentIntent of ours
        # The refund proves the payment: booked first (a no-op when it is already), so a
        # refund update that overtakes payment_intent.succeeded still ends right. Our
        # PaymentIntents are for the invoice's amount.
        await apply_payment(session, intent, invoice.amount_ore, data.get("metadata") or {})
        await StripeStore(session).set_refund_status(refund_id, "refund_succeeded")
        booked = await apply_refund(session, invoice, refund_id, int(data["amount"]), "refund")
        return PROCESSED if booked else IGNORED
    if status in ("failed", "canceled"):
        await StripeStore(session).set_refund_status(refund_id, f"refund_{status}")
        fields = {
            "invoice_id": invoice.id,
            "refund_id": refund_id,
            "failure_reason": data.get("failure_reason") or "",
        }
        if await StripeStore(session).credit_note_of_refund(refund_id):
            # Stripe reported it succeeded before, so it is booked: that needs a person.
            log.error("stripe_refund_failed_after_booking", **fields)
        else:
            log.warning("stripe_refund_failed", **fields)
        return REFUND_FAILED
    await StripeStore(session).set_refund_status(refund_id, f"refund_{status}")
    return IGNORED


async def apply_event(session: AsyncSession, event_type: str, data: dict[str, Any]) -> str:
    if event_type == SUCCEEDED:
        return await apply_payment(
            session, data["id"], int(data.get("amount") or 0), data.get("metadata") or {}
        )
    if event_type == FAILED:
        return await apply_failure(session, data)
    if event_type == REFUNDED:
        return await apply_charge_refunded(session, data)
    if event_type in REFUND_EVENTS:
        return await apply_refund_update(session, data)
    if event_type == DISPUTED:
        # Disputes are answered by hand in Stripe's dashboard: made visible, not acted on.
        log.warning("stripe_dispute_created", dispute_id=data.get("id"), reason=data.get("reason"))
        return PROCESSED
    if event_type == CUSTOMER_DELETED:
        removed = await StripeStore(session).unlink_customer(str(data.get("id") or ""))
        return PROCESSED if removed else UNKNOWN_OBJECT
    return IGNORED
