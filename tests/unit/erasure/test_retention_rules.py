"""The profile format and the calendar: a malformed profile is refused with the rule and field
named; durations count in Norwegian calendar days and months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.erasure.adapters.retention_files import ProfileError, load_profile, parse_profile
from services.erasure.domain.retention import RecordDates, add, decide, fiscal_year_end, oslo_day
from services.erasure.domain.retention_profile import CATEGORIES, STORES, Duration

GOOD_RULE = """\
  - category: ip-location
    keep: 30 days
    after: collection
    action: delete
    basis: "GDPR art. 6(1)(f)"
    source: Posisjonsdata GPS-koordinater IP-adresse 30 dager etter innsamling av data
"""
PROFILE = "name: test\nseed: A policy\nversion: 1\nrules:\n"


def refusal(text: str) -> str:
    with pytest.raises(ProfileError) as refused:
        parse_profile(text, "org.yaml")
    return str(refused.value)


def test_a_well_formed_profile_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(PROFILE + GOOD_RULE, encoding="utf-8")
    rule = load_profile(path).rules[0]
    assert (rule.category, rule.keep, rule.after) == (
        "ip-location",
        Duration(30, "days"),
        "collection",
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("ip-location", "ip-adresse"),
            "org.yaml: rules[0] (ip-adresse).category: Input should be",
        ),
        (
            ("30 days", "-30 days"),
            "rules[0] (ip-location).keep: '-30 days': a duration must not be negative",
        ),
        (("30 days", "a month"), "rules[0] (ip-location).keep: 'a month' is not a duration"),
        (
            ("    after: collection\n", ""),
            "rules[0] (ip-location): after: keep 30 days after which event?",
        ),
        (("after: collection", "after: signup"), "rules[0] (ip-location).after: Input should be"),
        (("action: delete", "action: shred"), "rules[0] (ip-location).action: Input should be"),
        (
            ("action: delete\n", "action: delete\n    retain: forever\n"),
            "rules[0] (ip-location).retain: Extra inputs",
        ),
        (
            ("    keep: 30 days\n", "    keep: 30 days\n    maximum: 7 days\n"),
            "rules[0] (ip-location): maximum: 7 days is shorter than keep 30 days",
        ),
        (
            ("    keep: 30 days\n    after: collection\n", "    keep_last: 0\n"),
            "rules[0] (ip-location).keep_last: Input should be greater than or equal to 1",
        ),
        (
            ("    keep: 30 days\n    after: collection\n", ""),
            "rules[0] (ip-location): keep: a duration (or keep_last: a count) is required",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_field(
    change: tuple[str, str], expected: str
) -> None:
    assert expected in refusal(PROFILE + GOOD_RULE.replace(*change))


def test_a_second_rule_for_the_same_category_is_refused() -> None:
    message = refusal(PROFILE + GOOD_RULE + GOOD_RULE.replace("30 days", "60 days"))
    assert (
        "rules[1] (ip-location).category: a second rule for ip-location (the first is rules[0])"
        in message
    )


def test_a_profile_without_rules_or_with_a_text_version_is_refused() -> None:
    assert "rules: a profile needs at least one rule" in refusal(PROFILE + "  []\n")
    assert "version: Input should be a valid integer" in refusal(
        PROFILE.replace("version: 1", "version: '1'") + GOOD_RULE
    )
    assert "not YAML" in refusal("rules: [unclosed")


def test_every_error_of_a_profile_is_reported_at_once() -> None:
    message = refusal(PROFILE + GOOD_RULE.replace("30 days", "-1 days").replace("delete", "burn"))
    assert "rules[0] (ip-location).keep" in message and "rules[0] (ip-location).action" in message


def test_a_month_after_a_month_end_is_the_last_day_of_the_shorter_month() -> None:
    assert add(date(2026, 1, 31), Duration(1, "months")) == date(2026, 2, 28)
    assert add(date(2028, 1, 31), Duration(1, "months")) == date(2028, 2, 29)
    assert add(date(2028, 2, 29), Duration(1, "years")) == date(2029, 2, 28)
    assert add(date(2026, 8, 31), Duration(3, "months")) == date(2026, 11, 30)


def test_the_fiscal_year_is_the_calendar_year() -> None:
    assert fiscal_year_end(date(2026, 3, 10)) == date(2026, 12, 31)


def test_days_are_norwegian_days() -> None:
    """23:30 UTC on Dec 31 is already New Year's Day in Oslo: next fiscal year."""
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert oslo_day(late) == date(2027, 1, 1)
    assert fiscal_year_end(late) == date(2027, 12, 31)
    with pytest.raises(ValueError, match="naive"):
        oslo_day(datetime(2026, 1, 1))


def test_a_category_the_profile_is_silent_on_is_kept_and_an_unknown_one_refused() -> None:
    profile = parse_profile(PROFILE + GOOD_RULE, "org.yaml")
    kept = decide(profile, "member-record", RecordDates(date(2000, 1, 1)), lambda: date(2030, 1, 1))
    assert not kept.due and kept.rule is None
    with pytest.raises(ValueError, match="unknown data category"):
        decide(profile, "members", RecordDates(date(2000, 1, 1)), lambda: date(2030, 1, 1))


def test_an_extension_is_ignored_by_a_rule_without_a_maximum() -> None:
    profile = parse_profile(PROFILE + GOOD_RULE, "org.yaml")
    record = RecordDates(date(2026, 3, 1), extended_until=date(2026, 12, 31))
    decision = decide(profile, "ip-location", record, lambda: date(2026, 4, 1))
    assert decision.due and decision.keep_until == date(2026, 3, 31)


def test_every_category_names_the_store_a_sweep_finds_it_in() -> None:
    assert set(STORES) == set(CATEGORIES)
