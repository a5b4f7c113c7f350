"""What the providers' delivery webhooks tell us, as changes to the message log. Pure: no I/O.

SendGrid (Event Webhook, a JSON batch): each event has its `sg_event_id` (the dedupe key),
`event`, `timestamp`, the recipient's `email` and our custom args at the top level
(`message_id`). Twilio (status callbacks, one form per change): `MessageSid`,
`MessageStatus`, `ErrorCode`; our message id rides in the callback URL's query string.

A message only moves forward: a late `delivered` does not undo a spam report, a repeated
status changes nothing (dedupe on the provider's key first; the ranks below for reordering).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.notify.domain.messages import (
    BOUNCED,
    DELIVERED,
    DROPPED,
    FAILED,
    SPAM_REPORTED,
    UNDELIVERED,
)

SENDGRID = "sendgrid"
TWILIO = "twilio"

# SendGrid events we act on, and the message state each means (None: no state change).
SENDGRID_STATES: dict[str, str | None] = {
    "delivered": DELIVERED,
    "bounce": BOUNCED,
    "dropped": DROPPED,
    "spamreport": SPAM_REPORTED,
    "unsubscribe": None,
    "group_unsubscribe": None,  # marketing goes out in an unsubscribe group
}
# Events that withdraw the consent a marketing message relied on, and the source membership
# records for the withdrawal.
WITHDRAWING = {
    "spamreport": "spam-report",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
}

TWILIO_STATES: dict[str, str] = {
    "delivered": DELIVERED,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
}

# Later states outrank earlier ones; a state only replaces one of a lower rank. Everything
# the dispatcher sets (queued ... sent) ranks 0.
_RANK = {DELIVERED: 1, UNDELIVERED: 1, FAILED: 1, BOUNCED: 2, DROPPED: 2, SPAM_REPORTED: 3}


def moves_forward(current: str, new: str) -> bool:
    return _RANK.get(new, 0) > _RANK.get(current, 0)


class Malformed(ValueError):
    """Not a batch of delivery events."""


@dataclass(frozen=True)
class SendGridEvent:
    dedupe_key: str  # sg_event_id
    event: str
    message_id: str | None
    at: datetime
    email: str  # only to hash it for a hard bounce; never stored
    hard_bounce: bool

    @property
    def label(self) -> str:
        """For metrics: the event, or "other" for those we do not act on."""
        return self.event if self.event in SENDGRID_STATES else "other"


def sendgrid_events(batch: Any, now: datetime) -> list[SendGridEvent]:
    if not isinstance(batch, list):
        raise Malformed("a JSON array of events")
    events = []
    for item in batch:
        if not isinstance(item, dict):
            raise Malformed("each event a JSON object")
        key, event = item.get("sg_event_id"), item.get("event")
        if not (isinstance(key, str) and 0 < len(key) <= 120 and isinstance(event, str)):
            raise Malformed("each event with sg_event_id and event")
        message_id = item.get("message_id")
        stamp = item.get("timestamp")
        at = (
            datetime.fromtimestamp(stamp, UTC)
            if isinstance(stamp, int | float) and 0 < stamp < 1e11
            else now
        )
        email = item.get("email")
        events.append(
            SendGridEvent(
                dedupe_key=key,
                event=event[:30],
                message_id=message_id if isinstance(message_id, str) and message_id else None,
                at=at,
                email=email if isinstance(email, str) else "",
                # SendGrid reports a soft bounce (a block) as type "blocked".
                hard_bounce=event == "bounce" and item.get("type", "bounce") == "bounce",
            )
        )
    return events


# An inbound SMS that opts the number out: Twilio's own opt-out words (Twilio then blocks
# the sender itself, so recording them keeps the log in step), plus the Norwegian STOPP and
# AVMELD, which Twilio does not know. The whole body, trimmed, case-insensitive; a trailing
# full stop or exclamation mark is allowed. START / UNSTOP do not opt back in here: consent
# is given again through the org, and the suppression stays.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopp", "avmeld", "stopall", "unsubscribe", "cancel", "end", "quit"}
)


def is_opt_out(body: str) -> bool:
    return body.strip().rstrip(".!").strip().casefold() in OPT_OUT_WORDS
