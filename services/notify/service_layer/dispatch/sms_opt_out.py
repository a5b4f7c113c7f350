"""An SMS refused because the number sent STOP (Twilio 21610): the number goes on the
suppression list and, for a transactional message (a receipt, an invoice), the same text is
queued by email to the member's address now, as a new message row with an id derived from
the SMS's (queued twice, it is one row). Both are written with the SMS's outcome
(`recording`)."""

from __future__ import annotations

import uuid

from services.common.logging import get_logger
from services.common.sealing import Sealer
from services.notify.domain import delivery
from services.notify.domain.messages import QUEUED, TRANSACTIONAL
from services.notify.domain.suppression import EMAIL
from services.notify.service_layer.dispatch.attempt import Attempt
from services.notify.service_layer.dispatch.providers import ContactEmails

log = get_logger(__name__)

OPTED_OUT = f"twilio-{delivery.TWILIO_OPTED_OUT}"


def fallback_id(original_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(original_id), "email-fallback"))


async def plan_email_fallback(
    attempt: Attempt, contacts: ContactEmails | None, sealer: Sealer
) -> None:
    """The number sent STOP: suppress it; a transactional message goes by email."""
    row = attempt.row
    attempt.suppress_sms = True
    if row.message_class != TRANSACTIONAL or row.fallback_of is not None:
        return
    address = None
    if contacts is not None:
        try:
            address = await contacts.email_of(row.org_id, row.member_id)
        except Exception as exc:
            log.warning("fallback_contact_failed", message_id=row.id, error=type(exc).__name__)
            address = None
    if not address:
        log.info("fallback_impossible", message_id=row.id, code=delivery.NO_FALLBACK_ADDRESS)
        return
    subject = attempt.fields.get("subject") or row.template
    sealed = await sealer.seal(
        row.member_id,
        {"recipient": address, "subject": subject, "body": attempt.fields["body"]},
    )
    attempt.fallback = {
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
        "html_sealed": None,
        "status": QUEUED,
        "attempts": 0,
        "fallback_of": row.id,
    }
