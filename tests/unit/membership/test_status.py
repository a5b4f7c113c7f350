"""The status lifecycle: what billing events and the passing of time do to a membership."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.membership.domain.status import (
    ACTIVE,
    CANCELLED,
    GRACE,
    LAPSED,
    PENDING,
    STATUSES,
    after_dunning_exhausted,
    after_payment,
    after_time,
    cancelled_from,
    parse_status_filter,
)

END = date(2025, 12, 31)


@pytest.mark.parametrize("current", [PENDING, ACTIVE, GRACE, LAPSED])
def test_a_payment_activates(current: str) -> None:
    assert after_payment(current) == ACTIVE


def test_a_payment_for_a_cancelled_membership_changes_nothing() -> None:
    assert after_payment(CANCELLED) is None


@pytest.mark.parametrize("current", [PENDING, ACTIVE, GRACE])
def test_exhausted_dunning_lapses(current: str) -> None:
    assert after_dunning_exhausted(current) == LAPSED


@pytest.mark.parametrize("current", [LAPSED, CANCELLED])
def test_exhausted_dunning_leaves_lapsed_and_cancelled_alone(current: str) -> None:
    assert after_dunning_exhausted(current) is None


def test_active_stays_active_through_the_last_day_of_the_period() -> None:
    assert after_time(ACTIVE, END, 30, date(2025, 6, 1)) is None
    assert after_time(ACTIVE, END, 30, END) is None


def test_active_moves_to_grace_the_day_after_the_period() -> None:
    assert after_time(ACTIVE, END, 30, date(2026, 1, 1)) == GRACE


def test_a_member_long_past_both_still_goes_through_grace_first() -> None:
    assert after_time(ACTIVE, END, 30, date(2027, 1, 1)) == GRACE
    assert after_time(GRACE, END, 30, date(2027, 1, 1)) == LAPSED


def test_grace_lapses_the_day_after_the_last_day_of_grace() -> None:
    assert after_time(GRACE, END, 30, date(2026, 1, 30)) is None  # Dec 31 + 30 days
    assert after_time(GRACE, END, 30, date(2026, 1, 31)) == LAPSED


def test_without_grace_days_both_steps_are_due_the_day_after() -> None:
    assert after_time(ACTIVE, END, 0, END) is None
    assert after_time(ACTIVE, END, 0, date(2026, 1, 1)) == GRACE
    assert after_time(GRACE, END, 0, date(2026, 1, 1)) == LAPSED


@pytest.mark.parametrize("current", [PENDING, LAPSED, CANCELLED])
def test_time_moves_only_active_and_grace(current: str) -> None:
    assert after_time(current, END, 0, date(2030, 1, 1)) is None


def test_time_without_a_period_changes_nothing() -> None:
    assert after_time(ACTIVE, None, 0, date(2030, 1, 1)) is None


@pytest.mark.parametrize("current", [PENDING, ACTIVE, GRACE, LAPSED])
def test_a_member_may_cancel_from_any_status_but_cancelled(current: str) -> None:
    assert cancelled_from(current) == CANCELLED
    with pytest.raises(FailedPrecondition):
        cancelled_from(CANCELLED)


def test_status_filter() -> None:
    assert parse_status_filter("") is None
    assert [parse_status_filter(s) for s in STATUSES] == list(STATUSES)
    with pytest.raises(InvalidArgument):
        parse_status_filter("asleep")
