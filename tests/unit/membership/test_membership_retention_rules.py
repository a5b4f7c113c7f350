"""Membership's decision of what a profile makes due: the newest N sessions of each member,
the consent in force, anonymised sessions, and a member due for erasure left to it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import yaml

from services.common.retention import RetentionProfile
from services.membership.domain.retention import Entry, Member, due_records

RULE = "    action: {action}\n    basis: b\n    source: s\n"


def profile(*rules: str) -> RetentionProfile:
    text = "name: t\nseed: s\nversion: 1\nrules:\n" + "".join(rules)
    return RetentionProfile.model_validate(yaml.safe_load(text))


def on(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def today() -> date:
    return date(2026, 6, 1)


KARI = Member("kari", "active", on("2020-01-01"), None, None)
OLA = Member("ola", "cancelled", on("2020-01-01"), None, on("2026-05-01"))


def test_each_member_keeps_their_own_newest_sessions() -> None:
    # Days 1 to 6, alternating members: Kari's oldest is entry 0 (day 1), Ola's entry 1.
    logins = [Entry(i, m, on(f"2026-05-0{i + 1}")) for i, m in enumerate(["kari", "ola"] * 3)]
    due = due_records(
        profile("  - category: login-log\n    keep_last: 2\n" + RULE.format(action="delete")),
        today,
        [KARI, OLA],
        logins,
        [],
        [],
    )
    assert due.logins == [0, 1]  # the oldest of each


def test_an_anonymised_session_loses_its_place_but_stays() -> None:
    rule = "  - category: login-log\n    keep: 30 days\n    after: collection\n"
    due = due_records(
        profile(rule + RULE.format(action="anonymise")),
        today,
        [KARI],
        [Entry(1, "kari", on("2026-04-01")), Entry(2, "kari", on("2026-05-20"))],
        [],
        [],
    )
    assert (due.logins, due.anonymised_logins, due.locations) == ([], [1], [])


def test_a_consent_in_force_stays_and_its_withdrawn_history_goes() -> None:
    rule = "  - category: consents\n    keep: 30 days\n    after: collection\n"
    consents = [
        Entry(1, "kari", on("2020-01-01"), "newsletter", True),
        Entry(2, "kari", on("2021-01-01"), "newsletter", False),
        Entry(3, "kari", on("2020-01-01"), "sms", True),
    ]
    due = due_records(profile(rule + RULE.format(action="delete")), today, [KARI], [], consents, [])
    assert due.consents == [1, 2]


def test_a_member_due_is_erased_whole_and_their_records_left_to_the_erasure() -> None:
    rules = (
        "  - category: member-record\n    keep: 0 days\n    after: end_of_relationship\n"
        + RULE.format(action="delete")
        + "  - category: audit-entries\n    keep: 1 days\n    after: collection\n"
        + RULE.format(action="delete")
    )
    audit = [Entry(1, "kari", on("2020-01-01")), Entry(2, "ola", on("2020-01-01"))]
    due = due_records(profile(rules), today, [KARI, OLA], [], [], audit)
    assert (due.erase, due.audit_entries) == (["ola"], [1])


def test_the_last_activity_is_the_newest_session_consent_or_paid_period() -> None:
    rule = "  - category: member-record\n    keep: 24 months\n    after: last_activity\n"
    renewed = Member("per", "active", on("2020-01-01"), date(2024, 6, 2), None)
    due = due_records(
        profile(rule + RULE.format(action="delete")),
        today,
        [KARI, renewed],
        [],
        [Entry(1, "kari", on("2024-05-31"), "newsletter", True)],
        [],
    )
    assert due.erase == ["kari"]
