"""Membership types and their periods: what a payment buys, counted in calendar days."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.membership.domain.periods import (
    DEFAULT_RULES,
    TypeRules,
    months_later_end,
    period_for,
    renewal,
    validate_type,
)

FIXED_YEAR = TypeRules("Ordinær", "yearly", "fixed", "10-01", 30)
CALENDAR_YEAR = TypeRules("Kalenderår", "yearly", "fixed", "", 30)
FIXED_MONTH = TypeRules("Måned", "monthly", "fixed", "", 7)
ROLLING_YEAR = TypeRules("Rullerende", "yearly", "rolling", "", 14)
ROLLING_MONTH = TypeRules("Månedlig", "monthly", "rolling", "", 0)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- validation -------------------------------------------------------------------------------


def test_a_valid_type_is_normalised() -> None:
    rules = validate_type("  Ordinær   medlem ", "yearly", "fixed", "10-01", 30)
    assert rules == TypeRules("Ordinær medlem", "yearly", "fixed", "10-01", 30)


@pytest.mark.parametrize(
    ("period", "kind"), [("yearly", "rolling"), ("monthly", "fixed"), ("monthly", "rolling")]
)
def test_types_without_rollover_are_valid(period: str, kind: str) -> None:
    assert validate_type("Junior", period, kind, "", 0).rollover == ""


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_type(" ", "weekly", "sliding", "13-01", -1)
    assert set(caught.value.field_errors) == {"name", "period", "kind", "rollover", "grace_days"}
    assert "weekly" not in str(caught.value)  # names the field, never echoes the value


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("name", ("x" * 101, "yearly", "fixed", "", 0)),
        ("period", ("A", "", "fixed", "", 0)),
        ("period", ("A", "Yearly", "fixed", "", 0)),
        ("kind", ("A", "yearly", "", "", 0)),
        ("rollover", ("A", "yearly", "rolling", "10-01", 0)),
        ("rollover", ("A", "monthly", "fixed", "10-01", 0)),
        ("rollover", ("A", "yearly", "fixed", "1-10", 0)),
        ("rollover", ("A", "yearly", "fixed", "10/01", 0)),
        ("rollover", ("A", "yearly", "fixed", "04-31", 0)),
        ("rollover", ("A", "yearly", "fixed", "02-29", 0)),
        ("rollover", ("A", "yearly", "fixed", "00-10", 0)),
        ("rollover", ("A", "yearly", "fixed", "01-01", 0)),
        ("grace_days", ("A", "yearly", "fixed", "", 366)),
        ("grace_days", ("A", "yearly", "fixed", "", -1)),
    ],
)
def test_bad_fields_are_refused(field: str, args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as caught:
        validate_type(*args)
    assert set(caught.value.field_errors) == {field}


def test_limits_are_inclusive() -> None:
    assert validate_type("x" * 100, "yearly", "fixed", "12-31", 365).grace_days == 365
    assert validate_type("A", "yearly", "fixed", "01-02", 0).rollover == "01-02"


# --- fixed yearly -----------------------------------------------------------------------------


def test_fixed_yearly_runs_to_the_end_of_the_calendar_year() -> None:
    assert period_for(FIXED_YEAR, d("2025-03-15")) == (d("2025-03-15"), d("2025-12-31"))
    assert period_for(FIXED_YEAR, d("2025-01-01")) == (d("2025-01-01"), d("2025-12-31"))


def test_a_sign_up_on_the_rollover_day_covers_next_year_too() -> None:
    assert period_for(FIXED_YEAR, d("2025-09-30")) == (d("2025-09-30"), d("2025-12-31"))
    assert period_for(FIXED_YEAR, d("2025-10-01")) == (d("2025-10-01"), d("2026-12-31"))
    assert period_for(FIXED_YEAR, d("2025-12-31")) == (d("2025-12-31"), d("2026-12-31"))


def test_without_rollover_a_late_sign_up_covers_only_the_rest_of_the_year() -> None:
    assert period_for(CALENDAR_YEAR, d("2025-12-31")) == (d("2025-12-31"), d("2025-12-31"))


def test_a_rollover_on_dec_31_moves_only_that_day() -> None:
    rules = TypeRules("A", "yearly", "fixed", "12-31", 0)
    assert period_for(rules, d("2025-12-30"))[1] == d("2025-12-31")
    assert period_for(rules, d("2025-12-31"))[1] == d("2026-12-31")


# --- fixed monthly ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-01-01", "2025-01-31"),
        ("2025-01-31", "2025-01-31"),
        ("2025-02-10", "2025-02-28"),
        ("2024-02-10", "2024-02-29"),
        ("2025-04-15", "2025-04-30"),
        ("2025-12-05", "2025-12-31"),
    ],
)
def test_fixed_monthly_runs_to_the_end_of_the_calendar_month(start: str, end: str) -> None:
    assert period_for(FIXED_MONTH, d(start)) == (d(start), d(end))


# --- rolling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-03-15", "2026-03-14"),
        ("2025-01-01", "2025-12-31"),
        ("2025-12-31", "2026-12-30"),
        ("2024-02-29", "2025-02-28"),  # no Feb 29 next year: the period ends with February
        ("2023-03-01", "2024-02-29"),  # the day before Mar 1 in a leap year
        ("2024-02-28", "2025-02-27"),
    ],
)
def test_rolling_yearly_ends_the_day_before_the_same_date_next_year(start: str, end: str) -> None:
    assert period_for(ROLLING_YEAR, d(start)) == (d(start), d(end))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-01-15", "2025-02-14"),
        ("2025-01-31", "2025-02-28"),  # no Feb 31: ends with February
        ("2024-01-31", "2024-02-29"),
        ("2025-01-29", "2025-02-28"),
        ("2024-01-29", "2024-02-28"),
        ("2025-01-28", "2025-02-27"),
        ("2025-03-31", "2025-04-30"),
        ("2025-12-31", "2026-01-30"),
        ("2025-12-01", "2025-12-31"),
    ],
)
def test_rolling_monthly_ends_the_day_before_the_same_date_next_month(start: str, end: str) -> None:
    assert period_for(ROLLING_MONTH, d(start)) == (d(start), d(end))


def test_rolling_periods_never_shrink_as_the_start_moves_later() -> None:
    day, previous = d("2023-12-01"), d("2000-01-01")
    while day < d("2025-03-01"):
        end = months_later_end(day, 1)
        assert end >= previous and end >= day
        previous, day = end, date.fromordinal(day.toordinal() + 1)


def test_default_rules_are_rolling_yearly() -> None:
    assert period_for(DEFAULT_RULES, d("2025-06-01")) == (d("2025-06-01"), d("2026-05-31"))


# --- renewal ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "grace"])
def test_renewal_while_active_or_in_grace_continues_the_current_period(status: str) -> None:
    today = d("2025-11-20")
    assert renewal(ROLLING_YEAR, status, d("2026-03-14"), today) == (
        d("2026-03-15"),
        d("2027-03-14"),
    )
    assert renewal(FIXED_YEAR, status, d("2025-12-31"), today) == (
        d("2026-01-01"),
        d("2026-12-31"),
    )
    assert renewal(FIXED_MONTH, status, d("2025-01-31"), today) == (
        d("2025-02-01"),
        d("2025-02-28"),
    )


@pytest.mark.parametrize("status", ["lapsed", "pending"])
def test_renewal_when_lapsed_or_pending_starts_today(status: str) -> None:
    today = d("2025-11-20")
    assert renewal(ROLLING_YEAR, status, d("2024-03-14"), today) == (today, d("2026-11-19"))
    assert renewal(FIXED_YEAR, status, None, today) == (today, d("2026-12-31"))  # past rollover
    assert renewal(FIXED_MONTH, status, None, today) == (today, d("2025-11-30"))


def test_renewal_of_a_rolling_month_from_the_31st_settles_on_calendar_months() -> None:
    start, end = period_for(ROLLING_MONTH, d("2025-01-31"))
    periods = []
    for _ in range(3):
        start, end = renewal(ROLLING_MONTH, "active", end, d("2025-01-31"))
        periods.append((start, end))
    assert periods == [
        (d("2025-03-01"), d("2025-03-31")),
        (d("2025-04-01"), d("2025-04-30")),
        (d("2025-05-01"), d("2025-05-31")),
    ]


def test_an_active_member_without_a_period_renews_from_today() -> None:
    today = d("2025-05-05")
    assert renewal(ROLLING_YEAR, "active", None, today) == (today, d("2026-05-04"))
