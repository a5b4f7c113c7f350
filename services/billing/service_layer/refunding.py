"""Refunding a paid invoice through Stripe, in full or in part.

Like paying, the refund request is committed with its idempotency key before Stripe is
called. A refund Stripe answers `succeeded` is booked at once; a `pending` one when Stripe
reports it succeeded (charge.refunded or a refund update event), by the same refund-id key,
so it is booked once whichever comes first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Row

from services.billing.adapters.repository import Repository
from services.billing.adapters.stripe_gateway import PaymentGateway
from services.billing.adapters.stripe_store import REFUND_PREFIX, StripeStore
from services.billing.domain.invoices import PAID, refundable
from services.billing.service_layer import stripe_events as events
from services.billing.service_layer.payment_common import invoice_of, refused_as_precondition
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound

REQUESTED = "refund_requested"  # committed, Stripe's answer not recorded yet


@dataclass(frozen=True)
class RefundView:
    invoice_id: str
    amount_ore: int
    credit_note_id: str
    credit_note_number: int
    status: str


class Refunding:
    def __init__(
        self,
        database: Database,
        gateway: PaymentGateway,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.database = database
        self.gateway = gateway
        self.after_commit = after_commit

    async def refund(
        self, org_id: str, invoice_id: str, amount_ore: int, reason: str
    ) -> RefundView:
        """`amount_ore` 0 refunds what is left to refund."""
        if amount_ore < 0:
            raise InvalidArgument({"amount_ore": "must not be negative"})
        invoice = await invoice_of(self.database, org_id, invoice_id)
        available = refundable(invoice.amount_ore, invoice.refunded_ore or 0, invoice.status)
        if invoice.status != PAID or available <= 0:
            raise FailedPrecondition(f"invoice {invoice_id} has nothing to refund")
        amount = amount_ore or available
        if amount > available:
            raise FailedPrecondition(f"at most {available} øre of {invoice_id} can be refunded")
        async with self.database.transaction() as db:
            store = StripeStore(db)
            intent = await store.paid_intent_of(invoice_id)
            if intent is None:
                raise FailedPrecondition(f"invoice {invoice_id} was not paid through Stripe")
            key, attempt_id = await _refund_attempt(store, invoice)
        with refused_as_precondition():
            result = await self.gateway.refund(
                intent, amount, {"invoice_id": invoice_id, "org_id": org_id}, key
            )
        async with self.database.transaction() as db:
            store = StripeStore(db)
            await store.update_attempt(
                attempt_id, refund_id=result.refund_id, status=f"refund_{result.status}"
            )
            note: tuple[str, int] | None = None
            if result.status == "succeeded":
                locked = await Repository(db).invoice_by_id(invoice_id, for_update=True)
                if locked is None:
                    raise NotFound(f"invoice {invoice_id} was deleted while it was refunded")
                note = await events.apply_refund(
                    db, locked, result.refund_id, result.amount_ore, reason or "refund"
                )
                note = note or await store.credit_note_of_refund(result.refund_id)
        self.after_commit()
        note_id, note_number = note or ("", 0)
        return RefundView(invoice_id, result.amount_ore, note_id, note_number, result.status)


async def _refund_attempt(store: StripeStore, invoice: Row) -> tuple[str, str]:
    """A refund whose call never got an answer is retried under its own key; otherwise the
    next refund of this invoice gets the next key."""
    refunds = [
        a
        for a in await store.attempts_of(invoice.id)
        if a.idempotency_key.startswith(REFUND_PREFIX)
    ]
    for earlier in refunds:
        if earlier.status == REQUESTED:
            return earlier.idempotency_key, earlier.id
    attempt_id = str(uuid.uuid4())
    key = f"{REFUND_PREFIX}{invoice.id}:{len(refunds) + 1}"
    await store.add_attempt(
        {
            "id": attempt_id,
            "org_id": invoice.org_id,
            "invoice_id": invoice.id,
            "attempt": await store.next_attempt(invoice.id),
            "idempotency_key": key,
            "payment_intent_id": None,
            "status": REQUESTED,
            "created_at": datetime.now(UTC),
        }
    )
    return key, attempt_id
