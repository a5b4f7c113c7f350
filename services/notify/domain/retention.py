"""Which of an org's logged messages its retention profile makes due today. No I/O.

message-log is every message but marketing ones (receipts, invoices, reminders, welcomes);
marketing-messages are those sent under a marketing consent. Only messages notify is done
with are swept: one still queued or being sent stays until it is settled.

Notify sees when a message was made, from membership when a consent was withdrawn, and from
membership's status changes when a membership ended (kept per member as they come), so a
profile that keeps messages for less time than members is enforced here. It does not see
when a member was last active (sessions are membership's alone): a rule counting from that
is enforced by the member's erasure (membership's member-record rule files it, and it takes
the message log with it), so notify leaves such a rule alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.clock import Clock
from services.common.retention import RecordDates, RetentionProfile, decide
from services.notify.domain.messages import MARKETING, QUEUED, RETRY, SENDING, UNKNOWN

UNSETTLED = (QUEUED, SENDING, RETRY, UNKNOWN)
# Counted from what membership alone knows: enforced there, through the member's erasure.
MEMBERSHIP_ANCHORS = ("last_activity",)


@dataclass(frozen=True)
class LoggedMessage:
    id: str
    member_id: str
    message_class: str
    purpose: str
    status: str
    created_at: datetime


def category_of(message: LoggedMessage) -> str:
    return "marketing-messages" if message.message_class == MARKETING else "message-log"


def swept_here(profile: RetentionProfile, category: str) -> bool:
    rule = profile.rule_for(category)
    return rule is not None and rule.keep is not None and rule.after not in MEMBERSHIP_ANCHORS


def needs_withdrawals(profile: RetentionProfile) -> bool:
    rule = profile.rule_for("marketing-messages")
    return rule is not None and rule.after == "consent_withdrawn"


def due_messages(
    profile: RetentionProfile,
    clock: Clock,
    messages: list[LoggedMessage],
    withdrawn: dict[tuple[str, str], datetime],
    ended: dict[str, datetime] | None = None,
) -> dict[str, list[str]]:
    """Message ids due, by category. `withdrawn`: (member, purpose) -> when the consent the
    purpose's messages relied on was withdrawn, for consents not in force; `ended`: member ->
    when their membership ended, for members whose membership has ended."""
    ended = ended or {}
    due: dict[str, list[str]] = {"message-log": [], "marketing-messages": []}
    for message in messages:
        category = category_of(message)
        if message.status in UNSETTLED or not swept_here(profile, category):
            continue
        record = RecordDates(
            collected_at=message.created_at,
            consent_withdrawn_at=withdrawn.get((message.member_id, message.purpose)),
            relationship_ended_at=ended.get(message.member_id),
        )
        if decide(profile, category, record, clock).due:
            due[category].append(message.id)
    return due
