"""Queue this template for this member on this channel: the one way every message enters the
log, used by every consumer and by an org's own sends.

Within the caller's transaction (the consuming event's, so the inbox record and the message
row commit together) and before anything is rendered, the member's flags decide
(domain/gating.py); a marketing message also needs the member's consent to its purpose now,
asked of membership, and records that consent as its evidence. What passes is rendered
(ours or the org's own template), sealed with the member's key and written as a QUEUED row,
one per (source, template, channel): a redelivered event finds its row and adds nothing. The
dispatcher sends QUEUED rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from membership.v1 import membership_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.upsert import insert_ignore
from services.common.logging import get_logger
from services.common.sealing import Sealer
from services.common.timestamps import iso
from services.notify.adapters.membership_directory import Directory
from services.notify.adapters.orm import messages
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.adapters.templates import render
from services.notify.domain.content import EMAIL, SMS, language_of
from services.notify.domain.gating import MemberFlags, Withheld, withheld_because
from services.notify.domain.messages import MARKETING, QUEUED, MessageKind, message_id
from services.notify.domain.unsubscribe_links import UnsubscribeLinks
from services.notify.metrics import MESSAGES_QUEUED, MESSAGES_SKIPPED

log = get_logger(__name__)

# Why a message was not queued, beyond the gate's reasons (Withheld).
MEMBER_GONE = "member-gone"  # erased, or not the org's member
NO_ADDRESS = "no-address"  # no email address / phone number for the channel
DUPLICATE = "duplicate"  # queued before (a redelivered event, a repeated send)

# Template values that depend on the member's language (amounts, dates), or fixed ones.
Values = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Intent:
    org_id: str
    member_id: str
    template: str
    channel: str
    kind: MessageKind
    legal_basis: str
    source_id: str  # the event (or the org's send) the message comes from: a UUID
    values: Values = field(default_factory=dict)
    # What the message id is derived from, with template and channel; the source by default.
    key: str = ""

    @property
    def message_id(self) -> str:
        return message_id(self.key or self.source_id, self.template, self.channel)


def consent_evidence(consents: membership_pb2.Consents, purpose: str) -> dict[str, Any] | None:
    """The grant the member's current consent to `purpose` rests on: the latest change for
    the purpose, if it is a grant and the purpose is consented to now."""
    if purpose not in consents.granted:
        return None
    changes = [c for c in consents.history if c.purpose == purpose]
    if not changes or not changes[-1].granted:
        return None
    grant = changes[-1]
    return {
        "purpose": grant.purpose,
        "granted": True,
        "at": iso(grant.at.ToDatetime(tzinfo=UTC)) if grant.HasField("at") else None,
        "source": grant.source,
        "policy_version": grant.policy_version,
    }


class MessageQueue:
    def __init__(
        self,
        directory: Directory,
        sealer: Sealer,
        overrides: TemplateOverrides,
        unsubscribe: UnsubscribeLinks,
        address_hash: Callable[[str, str], str] | None = None,
    ) -> None:
        self.directory = directory
        self.sealer = sealer
        self.overrides = overrides
        self.unsubscribe = unsubscribe
        # (channel, address) -> the suppression list's keyed hash, stored beside the message.
        self.address_hash = address_hash

    def _withheld(self, intent: Intent, reason: str) -> str:
        # Nothing rendered, sealed or logged as a message: the event counts as handled, and
        # lifting a restriction later does not send it. The log line names no member.
        MESSAGES_SKIPPED.labels(intent.template, reason).inc()
        log.info(
            "message_withheld",
            message_id=intent.message_id,
            template=intent.template,
            channel=intent.channel,
            message_class=intent.kind.message_class,
            purpose=intent.kind.purpose,
            reason=reason,
        )
        return reason

    async def queue(
        self,
        session: AsyncSession,
        intent: Intent,
        contact: membership_pb2.Contact | None,
    ) -> str:
        """QUEUED, or why not (a Withheld reason, MEMBER_GONE, NO_ADDRESS, DUPLICATE).
        `contact` is the member's, fetched from membership just now (None: gone)."""
        kind = intent.kind
        if contact is None or contact.org_id != intent.org_id:
            return self._withheld(intent, MEMBER_GONE)
        evidence: dict[str, Any] | None = None
        consents = frozenset(contact.consents)
        if kind.message_class == MARKETING:
            # Consent is asked for at this moment, with its evidence; none, none sent.
            found = await self.directory.consents(intent.org_id, intent.member_id)
            if found is None:
                return self._withheld(intent, MEMBER_GONE)
            evidence = consent_evidence(found, kind.purpose)
            consents = frozenset({kind.purpose}) if evidence else frozenset()
        flags = MemberFlags(
            restricted=contact.restricted,
            objections=frozenset(contact.objections),
            consents=consents,
        )
        reason: Withheld | None = withheld_because(kind, flags)
        if reason is not None:
            return self._withheld(intent, reason.value)
        address = contact.email if intent.channel == EMAIL else contact.phone
        if intent.channel not in (EMAIL, SMS) or not address:
            return self._withheld(intent, NO_ADDRESS)

        mid = intent.message_id
        language = language_of(contact.language)
        values = intent.values(language) if callable(intent.values) else intent.values
        context = {"name": contact.name, "org_name": contact.org_name, **values}
        unsubscribe_url = None
        if kind.message_class == MARKETING:
            unsubscribe_url = self.unsubscribe.unsubscribe_url(
                intent.org_id, intent.member_id, kind.purpose, mid, intent.channel
            )
        own = await self.overrides.parts(session, intent.org_id, intent.template, language)
        rendered = render(intent.template, language, context, own, unsubscribe_url)
        segments = None
        if intent.channel == SMS:
            if rendered.sms is None:
                return self._withheld(intent, NO_ADDRESS)  # the kind has no SMS text
            body, html = rendered.sms, None
            segments = rendered.sms_length.segments if rendered.sms_length else None
        else:
            body, html = rendered.text, rendered.html
        fields = {"recipient": address, "subject": rendered.subject, "body": body}
        if html is not None:
            fields["html"] = html
        sealed = await self.sealer.seal(intent.member_id, fields)
        now = datetime.now(UTC)
        row: dict[str, Any] = {
            "id": mid,
            "org_id": intent.org_id,
            "member_id": intent.member_id,
            "source_event_id": intent.source_id,
            "template": intent.template,
            "channel": intent.channel,
            "purpose": kind.purpose,
            "message_class": kind.message_class,
            "legal_basis": intent.legal_basis,
            "consent_evidence": (
                json.dumps({**evidence, "channel": intent.channel}, sort_keys=True)
                if evidence
                else None
            ),
            "recipient_sealed": sealed["recipient"],
            "subject_sealed": sealed["subject"],
            "body_sealed": sealed["body"],
            "html_sealed": sealed.get("html"),
            "segments": segments,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        if self.address_hash is not None:
            row["recipient_hash"] = self.address_hash(intent.channel, address)
        if not await insert_ignore(session, messages, row, ["id"]):
            return DUPLICATE
        MESSAGES_QUEUED.labels(intent.template, intent.channel, kind.message_class).inc()
        return QUEUED
