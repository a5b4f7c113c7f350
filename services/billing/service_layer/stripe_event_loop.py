"""The background side of Stripe: stored webhook events processed one by one (woken by the
webhook, with a periodic pass for leftovers), and reconciliation of what a lost webhook or a
failed call would have told us.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from services.billing.adapters.stripe_gateway import PaymentGateway
from services.billing.adapters.stripe_store import StripeStore
from services.billing.metrics import PAYMENTS_ON_CLOSED_INVOICES, STRIPE_EVENTS
from services.billing.service_layer import stripe_events as events
from services.billing.service_layer.payment_cancellation import PaymentCancellation
from services.common.db.engine import Database
from services.common.logging import get_logger

log = get_logger(__name__)

MAX_EVENT_ATTEMPTS = 10


def _type_label(event_type: str) -> str:
    return event_type if event_type in events.HANDLED else "other"


def _counted(event_type: str, outcome: str) -> None:
    STRIPE_EVENTS.labels(_type_label(event_type), outcome).inc()


class StripeEventLoop:
    def __init__(
        self,
        database: Database,
        gateway: PaymentGateway,
        cancellation: PaymentCancellation,
        *,
        after_commit: Callable[[], None] = lambda: None,
        events_interval_s: float = 30.0,
        reconcile_window_s: int = 3 * 24 * 3600,
    ) -> None:
        self.database = database
        self.gateway = gateway
        self.cancellation = cancellation
        self.after_commit = after_commit  # wakes the outbox relay
        self.events_interval_s = events_interval_s
        self.reconcile_window_s = reconcile_window_s
        self._wakeup = asyncio.Event()

    # --- stored webhook events --------------------------------------------------------------

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
        _counted(row.type, outcome)
        _count_payment_on_closed_invoice(outcome)
        self.after_commit()
        return 1

    # --- reconciliation ---------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Retries cancelling the payments of void invoices that Stripe did not hear of, then
        applies succeeded PaymentIntents of the window whose webhook never came, through the
        webhook's own path: already booked ones change nothing. Returns payments applied."""
        await self.cancellation.retry_void_invoices()
        since = int(time.time()) - self.reconcile_window_s
        applied = 0
        for intent in await self.gateway.recent_payment_intents(since):
            if intent.get("status") != "succeeded":
                continue
            data = events.essentials(events.SUCCEEDED, intent)
            async with self.database.transaction() as db:
                outcome = await events.apply_event(db, events.SUCCEEDED, data)
            _count_payment_on_closed_invoice(outcome)
            if outcome in (events.PROCESSED, events.PAID_ON_CLOSED_INVOICE):
                applied += 1
                _counted(events.SUCCEEDED, "reconciled")
        if applied:
            log.info("stripe_reconciled", payments=applied)
            self.after_commit()
        return applied


def _count_payment_on_closed_invoice(outcome: str) -> None:
    """Counted once it is committed (booking is keyed by the PaymentIntent: once)."""
    if outcome == events.PAID_ON_CLOSED_INVOICE:
        PAYMENTS_ON_CLOSED_INVOICES.inc()
