"""Notify's decision of what a profile makes due in the message log."""

from __future__ import annotations

from datetime import UTC, date, datetime

import yaml

from services.common.retention import RetentionProfile
from services.notify.domain.retention import LoggedMessage, due_messages


def profile(message_log_after: str) -> RetentionProfile:
    text = f"""
name: t
seed: s
version: 1
rules:
  - {{category: message-log, keep: 1 years, after: {message_log_after}, action: delete,
      basis: b, source: s}}
  - {{category: marketing-messages, keep: 0 days, after: consent_withdrawn, action: delete,
      basis: b, source: s}}
"""
    return RetentionProfile.model_validate(yaml.safe_load(text))


def on(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def today() -> date:
    return date(2026, 6, 1)


MESSAGES = [
    LoggedMessage("old", "kari", "service", "membership", "delivered", on("2025-01-01")),
    LoggedMessage("stuck", "kari", "service", "membership", "retry", on("2025-01-01")),
    LoggedMessage("news", "kari", "marketing", "newsletter", "sent", on("2026-05-01")),
    LoggedMessage("offers", "kari", "marketing", "offers", "sent", on("2026-05-01")),
]


def test_settled_messages_past_their_period_and_marketing_after_withdrawal_go() -> None:
    due = due_messages(
        profile("collection"), today, MESSAGES, {("kari", "newsletter"): on("2026-05-31")}
    )
    assert due == {"message-log": ["old"], "marketing-messages": ["news"]}


def test_a_rule_counting_from_the_relationship_runs_from_when_it_ended() -> None:
    rule = profile("end_of_relationship")
    running = due_messages(rule, today, MESSAGES, {})
    ended_lately = due_messages(rule, today, MESSAGES, {}, {"kari": on("2025-06-01")})
    ended_long_ago = due_messages(rule, today, MESSAGES, {}, {"kari": on("2025-05-31")})

    assert running == ended_lately == {"message-log": [], "marketing-messages": []}
    assert ended_long_ago == {"message-log": ["old"], "marketing-messages": []}


def test_a_rule_counting_from_last_activity_is_left_to_the_members_erasure() -> None:
    due = due_messages(profile("last_activity"), today, MESSAGES, {}, {"kari": on("2020-01-01")})
    assert due == {"message-log": [], "marketing-messages": []}
