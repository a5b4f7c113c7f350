"""Message identity, purpose and class. One message per (event, template, channel), so a
redelivered event finds the message it already produced instead of sending a second one.

Every template declares here what it is for (TEMPLATES): its class and its purpose. The class
decides who may get it (see gating.py); the purpose is what a member can object to or consent
to, and what the message log records."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

MESSAGE_NAMESPACE = uuid.UUID("6f1c1d0e-3b7a-4e53-9a55-8d7b0c3f2a10")

# Required by the contract or the law (receipts, invoices): sent to every member, restricted
# or not; an objection does not reach them.
TRANSACTIONAL = "transactional"
# About the membership (welcome, reminders, policy changes): not to restricted members, not
# to members who object to the message's purpose.
SERVICE = "service"
# Only with the member's current consent to the purpose; never to restricted or objecting
# members.
MARKETING = "marketing"
MESSAGE_CLASSES = (TRANSACTIONAL, SERVICE, MARKETING)

# The purpose keys membership accepts for consents (and objections); 50 characters fit the
# message log's purpose column (migration 0004).
PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


@dataclass(frozen=True)
class MessageKind:
    message_class: str
    purpose: str

    def __post_init__(self) -> None:
        if self.message_class not in MESSAGE_CLASSES:
            raise ValueError(f"message class {self.message_class!r}: one of {MESSAGE_CLASSES}")
        if not PURPOSE.match(self.purpose):
            raise ValueError(f"purpose {self.purpose!r}: a key such as 'membership'")


# A template without an entry here cannot be sent: the handler looks it up before rendering.
# Receipts, invoices and answers to a member's own rights request are owed under the contract
# or the law; reminders and notices about the membership or the privacy policy are service.
TEMPLATES: dict[str, MessageKind] = {
    "welcome": MessageKind(SERVICE, "membership"),
    "invoice-issued": MessageKind(TRANSACTIONAL, "billing"),
    "payment-receipt": MessageKind(TRANSACTIONAL, "billing"),
    "payment-reminder": MessageKind(SERVICE, "billing"),
    "membership-lapsed": MessageKind(SERVICE, "membership"),
    "policy-changed": MessageKind(SERVICE, "privacy"),
    "export-ready": MessageKind(TRANSACTIONAL, "privacy"),
    "erasure-confirmed": MessageKind(TRANSACTIONAL, "privacy"),
    "privacy-link": MessageKind(TRANSACTIONAL, "privacy"),
}


def kind_of(template: str) -> MessageKind:
    try:
        return TEMPLATES[template]
    except KeyError:
        raise LookupError(f"template {template!r} declares no class and purpose") from None


def message_id(event_id: str, template: str, channel: str) -> str:
    return str(uuid.uuid5(MESSAGE_NAMESPACE, f"{event_id}/{template}/{channel}"))


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# A message's life in the log. The row is written QUEUED with the event that caused it (the
# intent), before any provider hears of it; the dispatcher marks it SENDING before the call.
# A call that times out leaves it UNKNOWN: the next attempt first asks the provider whether
# it went out. RETRY waits for next_attempt_at (backoff, or the provider's Retry-After).
QUEUED = "queued"
SENDING = "sending"
UNKNOWN = "unknown"
RETRY = "retry"
SENT = "sent"  # accepted by the provider
FAILED = "failed"  # a permanent error (invalid address, opted out): not retried
# From the providers' delivery webhooks:
DELIVERED = "delivered"
BOUNCED = "bounced"
DROPPED = "dropped"
UNDELIVERED = "undelivered"
SPAM_REPORTED = "spam-reported"
TO_DISPATCH = (QUEUED, UNKNOWN, RETRY)
