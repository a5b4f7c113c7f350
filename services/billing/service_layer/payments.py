"""Payments through Stripe: start one for an open invoice, refund a paid one, process stored
webhook events, and reconcile what a lost webhook would have told us.

Slow calls to Stripe never run inside a database transaction (on SQLite that holds the
process's write turn): the attempt row with its idempotency key is committed first, then
Stripe is called, then its answer is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
import stripe
from membership.v1 import membership_pb2, membership_pb2_grpc
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.billing.adapters.repository import Repository
from services.billing.adapters.stripe_gateway import Contact, PaymentGateway, PaymentSession
from services.billing.adapters.stripe_store import REFUND_PREFIX, StripeStore
from services.billing.domain.invoices import OPEN, PAID, refundable
from services.billing.metrics import STRIPE_EVENTS
from services.billing.service_layer import stripe_events as events
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.grpc.client import ServiceClient
from services.common.logging import get_logger

log = get_logger(__name__)

DEAD = "canceled"  # a PaymentIntent that can no longer be paid: the next call starts anew
MAX_EVENT_ATTEMPTS = 10


@dataclass(frozen=True)
class PaymentView:
    invoice_id: str
    payment_intent_id: str
    client_secret: str
    url: str
    status: str


@dataclass(frozen=True)
class RefundView:
    invoice_id: str
    amount_ore: int
    credit_note_id: str
    credit_note_number: int
    status: str


class ContactSource(Protocol):
    async def contact(self, org_id: str, member_id: str) -> Contact | None: ...


class MembershipContacts:
    """Contact details from membership at the moment a Stripe customer is made."""

    def __init__(self, membership: ServiceClient) -> None:
        self.membership = membership

    async def contact(self, org_id: str, member_id: str) -> Contact | None:
        stub = membership_pb2_grpc.InternalDirectoryStub(self.membership.channel)
        try:
            found = await self.membership.call(
                stub.GetContact,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return Contact(found.name, found.email, found.phone)


@contextlib.contextmanager
def _refused_as_precondition() -> Iterator[None]:
    """Stripe refusing a request (e.g. a charge refunded already) is the caller's
    FAILED_PRECONDITION, told by Stripe's error code only; outages stay errors."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.CardError) as exc:
        raise FailedPrecondition(f"Stripe refused: {exc.code or 'invalid_request'}") from exc


def _type_label(event_type: str) -> str:
    return event_type if event_type in events.HANDLED else "other"


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
        self.database = database
        self.gateway = gateway
        self.contacts = contacts
        self.after_commit = after_commit  # wakes the outbox relay
        self.events_interval_s = events_interval_s
        self.reconcile_window_s = reconcile_window_s
        self._wakeup = asyncio.Event()

    # --- paying ---------------------------------------------------------------------------

    async def create_payment(self, org_id: str, invoice_id: str) -> PaymentView:
        invoice = await self._invoice(org_id, invoice_id)
        if invoice.status != OPEN:
            raise FailedPrecondition(f"invoice {invoice_id} is {invoice.status}, not open")
        customer_id = await self._customer(org_id, invoice.member_ref)
        attempt = await self._live_attempt(invoice)
        if attempt.payment_intent_id:
            session = await self.gateway.payment(attempt.payment_intent_id)
            if session.status != DEAD:
                return self._view(invoice_id, session)
            async with self.database.transaction() as db:
                await StripeStore(db).update_attempt(attempt.id, status=DEAD)
            attempt = await self._live_attempt(invoice)
        with _refused_as_precondition():
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
                status=session.status,
            )
        return self._view(invoice_id, session)

    @staticmethod
    def _view(invoice_id: str, session: PaymentSession) -> PaymentView:
        return PaymentView(
            invoice_id,
            session.payment_intent_id,
            session.client_secret,
            session.url,
            session.status,
        )

    async def _invoice(self, org_id: str, invoice_id: str) -> Row:
        async with self.database.sessions() as db:
            invoice = await Repository(db).invoice(org_id, invoice_id)
        if invoice is None:
            raise NotFound(f"invoice {invoice_id} not found")
        return invoice

    async def _customer(self, org_id: str, member_id: str) -> str:
        """Made on first need; Stripe gets the contact details, we keep only its id."""
        async with self.database.sessions() as db:
            existing = await StripeStore(db).customer_of(org_id, member_id)
        if existing:
            return existing
        contact = await self.contacts.contact(org_id, member_id)
        if contact is None:
            raise FailedPrecondition(f"member {member_id} is not a member any more")
        customer_id = await self.gateway.create_customer(
            contact,
            {"org_id": org_id},  # our link is the customer id we keep
            idempotency_key=f"customer:{org_id}:{member_id}",
        )
        async with self.database.transaction() as db:
            store = StripeStore(db)
            if not await store.add_customer(org_id, member_id, customer_id, datetime.now(UTC)):
                customer_id = await store.customer_of(org_id, member_id) or customer_id
        return customer_id

    async def _live_attempt(self, invoice: Row) -> Row:
        """The attempt to (re)use: the last one unless its PaymentIntent is dead, else a new
        one, committed with its key before Stripe hears of it."""
        for _ in range(3):
            try:
                async with self.database.transaction() as db:
                    store = StripeStore(db)
                    attempts = [
                        a
                        for a in await store.attempts_of(invoice.id)
                        if not a.idempotency_key.startswith(REFUND_PREFIX)
                    ]
                    if attempts and attempts[-1].status != DEAD:
                        return attempts[-1]
                    number = await store.next_attempt(invoice.id)
                    values = {
                        "id": str(uuid.uuid4()),
                        "org_id": invoice.org_id,
                        "invoice_id": invoice.id,
                        "attempt": number,
                        "idempotency_key": f"invoice:{invoice.id}:attempt:{number}",
                        "payment_intent_id": None,
                        "status": "pending",
                        "created_at": datetime.now(UTC),
                    }
                    await store.add_attempt(values)
            except IntegrityError:
                continue  # a concurrent call took this number: look again
            return _AttemptRow(**values)  # type: ignore[return-value]
        raise FailedPrecondition(f"invoice {invoice.id} is being paid concurrently")

    # --- refunding ------------------------------------------------------------------------

    async def refund(
        self, org_id: str, invoice_id: str, amount_ore: int, reason: str
    ) -> RefundView:
        if amount_ore < 0:
            raise InvalidArgument({"amount_ore": "must not be negative"})
        invoice = await self._invoice(org_id, invoice_id)
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
            key, attempt_id = await self._refund_attempt(store, invoice)
        with _refused_as_precondition():
            result = await self.gateway.refund(
                intent, amount, {"invoice_id": invoice_id, "org_id": org_id}, key
            )
        async with self.database.transaction() as db:
            store = StripeStore(db)
            await store.update_attempt(attempt_id, status=f"refund_{result.status}")
            note: tuple[str, int] | None = None
            if result.status == "succeeded":
                locked = await Repository(db).invoice_by_id(invoice_id, for_update=True)
                assert locked is not None
                note = await events.apply_refund(
                    db, locked, result.refund_id, result.amount_ore, reason or "refund"
                )
                note = note or await store.credit_note_of_refund(result.refund_id)
        self.after_commit()
        return RefundView(
            invoice_id, result.amount_ore, note[0] if note else "", note[1] if note else 0,
            result.status,
        )  # fmt: skip

    @staticmethod
    async def _refund_attempt(store: StripeStore, invoice: Row) -> tuple[str, str]:
        """A refund whose call never got an answer is retried under its own key; otherwise
        the next refund of this invoice gets the next key."""
        refunds = [
            a
            for a in await store.attempts_of(invoice.id)
            if a.idempotency_key.startswith(REFUND_PREFIX)
        ]
        for earlier in refunds:
            if earlier.status == "refund_requested":
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
                "status": "refund_requested",
                "created_at": datetime.now(UTC),
            }
        )
        return key, attempt_id

    # --- webhook events -------------------------------------------------------------------

    def wake(self) -> None:
        """Called after the webhook stored an event."""
        self._wakeup.set()

    async def next_event_pass(self) -> int:
        """One pass of the event loop: waits for a wake-up (or the interval, for leftovers),
        then processes what is pending. Run back to back by runtime.every."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.events_interval_s)
        self._wakeup.clear()  # before reading: an insert during the pass wakes the next one
        return await self.process_pending_events()

    async def process_pending_events(self, batch: int = 100) -> int:
        done = 0
        while True:
            async with self.database.sessions() as db:
                rows = await StripeStore(db).pending_events(batch)
            finished = 0
            for row in rows:
                finished += await self._process(row)
            done += finished
            if len(rows) < batch or not finished:
                return done

    async def _process(self, row: Row) -> int:
        data: dict[str, Any] = json.loads(row.data)
        try:
            if row.type == events.REFUNDED and data.get("refunds") is None:
                listed = await self.gateway.refunds_of_charge(data["id"])
                data["refunds"] = [events.refund_fields(r) for r in listed]
            async with self.database.transaction() as db:
                # Claimed first: a replica that got there before makes this a no-op.
                if not await StripeStore(db).finish_event(
                    row.event_id, "processing", datetime.now(UTC)
                ):
                    return 0
                outcome = await events.apply_event(db, row.type, data)
                await StripeStore(db).set_outcome(row.event_id, outcome)
        except Exception as exc:
            async with self.database.transaction() as db:
                attempts = await StripeStore(db).count_failure(row.event_id)
                if attempts < MAX_EVENT_ATTEMPTS:
                    log.warning("stripe_event_failed", type=row.type, error=type(exc).__name__)
                    return 0
                await StripeStore(db).finish_event(row.event_id, "failed", datetime.now(UTC))
            log.error("stripe_event_given_up", type=row.type, event_id=row.event_id)
            outcome = "failed"
        STRIPE_EVENTS.labels(_type_label(row.type), outcome).inc()
        self.after_commit()
        return 1

    # --- reconciliation -------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Applies succeeded PaymentIntents of the window whose webhook never came, through
        the webhook's own path: already booked ones change nothing."""
        since = int(time.time()) - self.reconcile_window_s
        applied = 0
        for intent in await self.gateway.recent_payment_intents(since):
            if intent.get("status") != "succeeded":
                continue
            data = events.essentials(events.SUCCEEDED, intent)
            async with self.database.transaction() as db:
                outcome = await events.apply_event(db, events.SUCCEEDED, data)
            if outcome == events.PROCESSED:
                applied += 1
                STRIPE_EVENTS.labels(events.SUCCEEDED, "reconciled").inc()
        if applied:
            log.info("stripe_reconciled", payments=applied)
            self.after_commit()
        return applied

    # --- erasure --------------------------------------------------------------------------

    async def forget_customer(self, org_id: str, member_id: str) -> bool:
        """Deletes the member's Stripe customer (Stripe's deletion API) and our link to it."""
        async with self.database.sessions() as db:
            customer_id = await StripeStore(db).customer_of(org_id, member_id)
        if customer_id is None:
            return False
        await self.gateway.delete_customer(customer_id)  # False: Stripe had deleted it already
        async with self.database.transaction() as db:
            await StripeStore(db).remove_customer(customer_id)
        return True


@dataclass(frozen=True)
class _AttemptRow:
    """A just-inserted attempt, shaped like its row."""

    id: str
    org_id: str
    invoice_id: str
    attempt: int
    idempotency_key: str
    payment_intent_id: str | None
    status: str
    created_at: datetime
