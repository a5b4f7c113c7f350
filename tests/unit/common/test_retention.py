"""The calendar of retention rules: durations count in Norwegian calendar days and months, the
fiscal year is the calendar year, and a category a profile is silent on is kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from services.common.retention import (
    CATEGORIES,
    STORES,
    Duration,
    RecordDates,
    RetentionProfile,
    add,
    decide,
    fiscal_year_end,
    oslo_day,
)

PROFILE = """\
name: test
seed: A policy
version: 1
rules:
  - category: ip-location
    keep: 30 days
    after: collection
    action: delete
    basis: "GDPR art. 6(1)(f)"
    source: IP-adresse 30 dager etter innsamling av data
"""


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
    profile = RetentionProfile.model_validate(yaml.safe_load(PROFILE))
    kept = decide(profile, "member-record", RecordDates(date(2000, 1, 1)), lambda: date(2030, 1, 1))
    assert not kept.due and kept.rule is None
    with pytest.raises(ValueError, match="unknown data category"):
        decide(profile, "members", RecordDates(date(2000, 1, 1)), lambda: date(2030, 1, 1))


def test_an_extension_is_ignored_by_a_rule_without_a_maximum() -> None:
    profile = RetentionProfile.model_validate(yaml.safe_load(PROFILE))
    record = RecordDates(date(2026, 3, 1), extended_until=date(2026, 12, 31))
    decision = decide(profile, "ip-location", record, lambda: date(2026, 4, 1))
    assert decision.due and decision.keep_until == date(2026, 3, 31)


def test_every_category_names_the_store_a_sweep_finds_it_in() -> None:
    assert set(STORES) == set(CATEGORIES)
