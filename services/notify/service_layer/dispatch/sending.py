"""One claimed message through its provider, and what the answer means.

An attempt whose last outcome is unknown (a timeout, or a claim taken over from a dispatcher
that died) first asks the provider whether the message went out, and sends only if it did
not. Accepted: SENT with the provider's id. Permanent: FAILED with the provider's code (an
SMS to a number that sent STOP goes on to `sms_opt_out`). Anything else: `retry_later`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from services.common.timestamps import as_utc
from services.notify.domain.delivery import (
    PERMANENT,
    OutgoingEmail,
    OutgoingSms,
    ProviderFailure,
)
from services.notify.domain.messages import FAILED, SENT
from services.notify.domain.suppression import EMAIL, SMS
from services.notify.service_layer.dispatch.attempt import (
    Attempt,
    DispatchPolicy,
    retry_later,
)
from services.notify.service_layer.dispatch.providers import EmailProvider, SmsProvider
from services.notify.service_layer.dispatch.sms_opt_out import OPTED_OUT, EmailFallback


def email_of(attempt: Attempt) -> OutgoingEmail:
    row, fields = attempt.row, attempt.fields
    return OutgoingEmail(
        message_id=row.id,
        org_id=row.org_id,
        member_id=row.member_id,
        to=fields["recipient"],
        subject=fields["subject"],
        text=fields["body"],
        html=fields.get("html"),
        purpose=row.purpose,
        message_class=row.message_class,
    )


def sms_of(attempt: Attempt) -> OutgoingSms:
    row, fields = attempt.row, attempt.fields
    return OutgoingSms(row.id, row.org_id, row.member_id, fields["recipient"], fields["body"])


class Sending:
    def __init__(
        self,
        email: EmailProvider,
        sms: SmsProvider,
        policy: DispatchPolicy,
        fallback: EmailFallback,
        clock: Callable[[], datetime],
    ) -> None:
        self.email = email
        self.sms = sms
        self.policy = policy
        self.fallback = fallback
        self.clock = clock

    async def attempt(self, attempt: Attempt) -> None:
        """Sends (or finds) the message; the outcome is left on `attempt`."""
        row = attempt.row
        lookup: Callable[[], Awaitable[str | None]]
        send: Callable[[], Awaitable[str]]
        if row.channel == EMAIL:
            email = email_of(attempt)
            attempt.provider = self.email.name

            def lookup() -> Awaitable[str | None]:
                return self.email.lookup(row.id)

            def send() -> Awaitable[str]:
                return self.email.send(email)
        elif row.channel == SMS:
            sms = sms_of(attempt)
            attempt.provider = self.sms.name
            since = as_utc(row.created_at) if row.created_at else self.clock()

            def lookup() -> Awaitable[str | None]:
                return self.sms.lookup(sms, since)

            def send() -> Awaitable[str]:
                return self.sms.send(sms)
        else:
            attempt.status, attempt.code = FAILED, f"channel-{row.channel}"[:100]
            return
        try:
            if attempt.was_unknown:
                found = await lookup()
                if found is not None:
                    attempt.status, attempt.provider_ref = SENT, found
                    attempt.code = "found-after-timeout"
                    return
            attempt.provider_ref = await send()
            attempt.status = SENT
        except ProviderFailure as failure:
            if failure.kind != PERMANENT:
                retry_later(attempt, failure, self.policy)
                return
            attempt.status, attempt.code = FAILED, failure.code
            if row.channel == SMS and failure.code == OPTED_OUT:
                await self.fallback.plan(attempt)
