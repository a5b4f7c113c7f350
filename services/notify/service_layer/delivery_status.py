"""Delivery status from the providers: the message log follows SendGrid's and Twilio's events,
a hard bounce or an SMS STOP suppresses the address (as a keyed hash, never in clear), and a
spam report, an unsubscribe or a STOP withdraws the marketing consent the message relied on,
in membership.

Each webhook request is one transaction: its events are recorded by the providers' dedupe
keys, so a redelivered event changes nothing. Consent withdrawals are made inside it, before
the commit: if membership cannot be reached, nothing is recorded, the webhook answers 503 and
the provider delivers the event again (withdrawing twice is harmless)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.db.engine import Database
from services.common.grpc.client import ServiceClient
from services.common.logging import get_logger
from services.notify.adapters import delivery_log
from services.notify.adapters.suppressions import suppress
from services.notify.domain.delivery_events import (
    SENDGRID,
    SENDGRID_STATES,
    TWILIO,
    TWILIO_STATES,
    WITHDRAWING,
    SendGridEvent,
    moves_forward,
)
from services.notify.domain.messages import DELIVERED, MARKETING
from services.notify.domain.suppression import BOUNCE, EMAIL, SMS, SMS_STOP, address_hash
from services.notify.metrics import DELIVERY_EVENTS

log = get_logger(__name__)

TWILIO_OPTED_OUT = "21610"  # the number sent STOP to our sender
# The member is gone (erased) or the purpose is not one membership knows: retrying the
# webhook cannot change that.
SETTLED = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.INVALID_ARGUMENT,
)


@dataclass(frozen=True)
class Withdrawal:
    org_id: str
    member_id: str
    purpose: str
    source: str  # unsubscribe, spam-report, sms-stop


Withdraw = Callable[[Withdrawal], Awaitable[None]]


def membership_withdrawer(membership: ServiceClient) -> Withdraw:
    """InternalDirectory.WithdrawConsent with the internal token."""

    async def withdraw(w: Withdrawal) -> None:
        stub = membership_pb2_grpc.InternalDirectoryStub(membership.channel)
        request = membership_pb2.WithdrawConsentRequest(
            org_id=w.org_id, member_id=w.member_id, purpose=w.purpose, source=w.source
        )
        try:
            await membership.call(stub.WithdrawConsent, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in SETTLED:
                raise
            log.info("consent_withdrawal_settled", source=w.source, code=exc.code().name)

    return withdraw


class DeliveryStatus:
    def __init__(self, database: Database, withdraw: Withdraw, suppression_key: bytes) -> None:
        self.database = database
        self.withdraw = withdraw
        self.key = suppression_key

    async def sendgrid(self, events: list[SendGridEvent]) -> Counter[str]:
        """Applies a batch; the outcome of each event, counted."""
        now = datetime.now(UTC)
        outcomes: list[tuple[str, str]] = []
        async with self.database.transaction() as session:
            withdrawals: list[Withdrawal] = []
            for ev in events:
                if not await delivery_log.first_time(
                    session, SENDGRID, ev.dedupe_key, ev.message_id, ev.event, now
                ):
                    outcomes.append((ev.label, "duplicate"))
                    continue
                row = await delivery_log.message(session, ev.message_id) if ev.message_id else None
                if row is None:
                    outcomes.append((ev.label, "unknown-message"))
                    continue
                state = SENDGRID_STATES.get(ev.event)
                if state is not None and moves_forward(row.status, state):
                    delivered_at = ev.at if state == DELIVERED else None
                    await delivery_log.set_status(
                        session, row, state, now, delivered_at=delivered_at
                    )
                if ev.hard_bounce and ev.email:
                    hashed = address_hash(self.key, EMAIL, ev.email)
                    await suppress(session, row.org_id, EMAIL, hashed, BOUNCE, now)
                if ev.event in WITHDRAWING and row.message_class == MARKETING:
                    withdrawals.append(
                        Withdrawal(row.org_id, row.member_id, row.purpose, WITHDRAWING[ev.event])
                    )
                outcomes.append((ev.label, "applied" if ev.label != "other" else "ignored"))
            for withdrawal in withdrawals:
                await self.withdraw(withdrawal)
        for event, outcome in outcomes:
            DELIVERY_EVENTS.labels(SENDGRID, event, outcome).inc()
        return Counter(outcome for _, outcome in outcomes)

    async def twilio_status(
        self, message_id: str, sid: str, status: str, error_code: str, to: str
    ) -> str:
        """A status callback; its outcome."""
        now = datetime.now(UTC)
        label = status if status in TWILIO_STATES else "other"
        async with self.database.transaction() as session:
            if not await delivery_log.first_time(
                session, TWILIO, f"{sid}:{status}"[:120], message_id or None, status[:30], now
            ):
                outcome = "duplicate"
            else:
                row = await (
                    delivery_log.message(session, message_id)
                    if message_id
                    else delivery_log.message_by_ref(session, TWILIO, sid)
                )
                if row is None:
                    outcome = "unknown-message"
                else:
                    outcome = "applied" if label != "other" else "ignored"
                    state = TWILIO_STATES.get(status)
                    if state is not None and moves_forward(row.status, state):
                        await delivery_log.set_status(
                            session,
                            row,
                            state,
                            now,
                            delivered_at=now if state == DELIVERED else None,
                            last_error=error_code or None,
                        )
                    if error_code == TWILIO_OPTED_OUT and to:
                        hashed = address_hash(self.key, SMS, to)
                        await suppress(session, row.org_id, SMS, hashed, SMS_STOP, now)
        DELIVERY_EVENTS.labels(TWILIO, label, outcome).inc()
        return outcome

    async def sms_opt_out(self, number: str) -> int:
        """An inbound STOP: the number is suppressed for every org that texted it (found by
        the hash the message log keeps), and each member's marketing consents the messages
        relied on are withdrawn. The number itself is never stored. The orgs, counted."""
        now = datetime.now(UTC)
        hashed = address_hash(self.key, SMS, number)
        async with self.database.transaction() as session:
            rows = await delivery_log.sent_to(session, SMS, hashed)
            orgs = sorted({row.org_id for row in rows})
            for org_id in orgs:
                await suppress(session, org_id, SMS, hashed, SMS_STOP, now)
            withdrawals = {
                Withdrawal(row.org_id, row.member_id, row.purpose, "sms-stop")
                for row in rows
                if row.message_class == MARKETING
            }
            for withdrawal in sorted(withdrawals, key=lambda w: (w.org_id, w.member_id, w.purpose)):
                await self.withdraw(withdrawal)
        DELIVERY_EVENTS.labels(TWILIO, "stop", "applied" if orgs else "unknown-number").inc()
        return len(orgs)
