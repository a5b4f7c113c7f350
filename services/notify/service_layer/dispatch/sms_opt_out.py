"""An SMS refused because the number sent STOP (Twilio 21610): the number goes on the
suppression list and, for a transactional message (a receipt, an invoice), the same text is
queued by email to the member's address now, as a new message row with an id derived from
the SMS's (queued twice, it is one row). Both are written with the SMS's outcome
(`recording`).

The email is rendered from the `sms-fallback` kind like any other message (the org's own
parts over ours), in the member's language now, greeting them by name: it says the message was
meant for their phone and carries the SMS text, in the HTML body (escaped) and the plain-text
one. Its row keeps the SMS's kind: the message log shows the receipt, by email."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.logging import get_logger
from services.common.sealing import Sealer
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.adapters.templates import Rendered, render
from services.notify.domain import delivery
from services.notify.domain.content import SMS_FALLBACK, language_of
from services.notify.domain.messages import QUEUED, TRANSACTIONAL
from services.notify.domain.suppression import EMAIL
from services.notify.service_layer.dispatch.attempt import Attempt
from services.notify.service_layer.dispatch.providers import EmailContact, EmailContacts

log = get_logger(__name__)

OPTED_OUT = f"twilio-{delivery.TWILIO_OPTED_OUT}"


def fallback_id(original_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(original_id), "email-fallback"))


class EmailFallback:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        contacts: EmailContacts | None,
        overrides: TemplateOverrides,
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.contacts = contacts
        self.overrides = overrides

    async def plan(self, attempt: Attempt) -> None:
        """The number sent STOP: suppress it; a transactional message goes by email."""
        row = attempt.row
        attempt.suppress_sms = True
        if row.message_class != TRANSACTIONAL or row.fallback_of is not None:
            return
        contact = await self._contact(row)
        if contact is None:
            log.info("fallback_impossible", message_id=row.id, code=delivery.NO_FALLBACK_ADDRESS)
            return
        rendered = await self._render(row, contact, attempt.fields["body"])
        sealed = await self.sealer.seal(
            row.member_id,
            {
                "recipient": contact.email,
                "subject": rendered.subject,
                "body": rendered.text,
                "html": rendered.html,
            },
        )
        attempt.fallback = _fallback_row(row, sealed)

    async def _contact(self, row: Row) -> EmailContact | None:
        if self.contacts is None:
            return None
        try:
            return await self.contacts.email_contact(row.org_id, row.member_id)
        except Exception as exc:
            log.warning("fallback_contact_failed", message_id=row.id, error=type(exc).__name__)
            return None

    async def _render(self, row: Row, contact: EmailContact, sms_text: str) -> Rendered:
        language = language_of(contact.language)
        try:
            async with self.database.sessions() as session:
                own = await self.overrides.parts(session, row.org_id, SMS_FALLBACK, language)
        except Exception as exc:
            # Ours says it all. Failing would lose the email: the SMS would be retried, but
            # its number is suppressed with this outcome, so the retry is refused before any
            # fallback is planned.
            log.warning("fallback_overrides_failed", message_id=row.id, error=type(exc).__name__)
            own = {}
        context = {"name": contact.name, "org_name": contact.org_name, "sms_text": sms_text}
        return render(SMS_FALLBACK, language, context, own)


def _fallback_row(row: Row, sealed: dict[str, str]) -> dict[str, Any]:
    """The email's row: the SMS's org, member, source, kind, class, purpose and legal basis."""
    return {
        "id": fallback_id(row.id),
        "org_id": row.org_id,
        "member_id": row.member_id,
        "source_event_id": row.source_event_id,
        "template": row.template,
        "channel": EMAIL,
        "purpose": row.purpose,
        "message_class": row.message_class,
        "legal_basis": row.legal_basis,
        "consent_evidence": row.consent_evidence,
        "recipient_sealed": sealed["recipient"],
        "subject_sealed": sealed["subject"],
        "body_sealed": sealed["body"],
        "html_sealed": sealed["html"],
        "status": QUEUED,
        "attempts": 0,
        "fallback_of": row.id,
    }
