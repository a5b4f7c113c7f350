"""Dunning steps and the retention cut-off for old invoices: pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from services.billing.domain.dunning import REMIND, WRITE_OFF, Step, first_check, next_step
from services.billing.domain.fees import BillingPolicy
from services.billing.domain.invoices import delete_after
from services.billing.service_layer.dunning import moment_on
from services.billing.service_layer.retention import legacy_cutoff
from services.common.clock import OSLO

DEFAULT = BillingPolicy()  # first reminder 7 days after due, 2 reminders, 14 days apart


def test_an_invoice_first_comes_up_days_after_its_due_date() -> None:
    assert first_check(date(2026, 3, 16), DEFAULT) == date(2026, 3, 23)
    assert first_check(date(2026, 3, 16), BillingPolicy(first_reminder_days=0)) == date(2026, 3, 16)


def test_reminders_then_a_write_off() -> None:
    day = date(2026, 3, 23)
    first = next_step(0, day, DEFAULT)
    assert first == Step(REMIND, 1, date(2026, 4, 6))
    second = next_step(1, first.next_on, DEFAULT)  # type: ignore[arg-type]
    assert second == Step(REMIND, 2, date(2026, 4, 20))
    assert next_step(2, second.next_on, DEFAULT) == Step(WRITE_OFF, 2, None)  # type: ignore[arg-type]


def test_no_reminders_means_a_write_off_at_the_first_check() -> None:
    assert next_step(0, date(2026, 3, 23), BillingPolicy(max_reminders=0)) == Step(
        WRITE_OFF, 0, None
    )


def test_a_policy_lowered_meanwhile_applies_at_the_next_check() -> None:
    # Two reminders went out under a policy of three; the org now allows one.
    assert next_step(2, date(2026, 5, 1), BillingPolicy(max_reminders=1)).action == WRITE_OFF


@pytest.mark.parametrize("interval", [1, 14, 30])
def test_the_next_check_is_an_interval_after_the_day_it_ran(interval: int) -> None:
    # Counted from the run, not the schedule: a run that was late does not bunch reminders.
    step = next_step(0, date(2026, 3, 30), BillingPolicy(reminder_interval_days=interval))
    assert step.next_on == date(2026, 3, 30) + timedelta(days=interval)


@pytest.mark.parametrize(
    "today",
    [date(2026, 1, 1), date(2026, 6, 15), date(2026, 12, 31), date(2027, 1, 1)],
)
def test_the_legacy_cutoff_matches_delete_after_of_the_issue_date(today: date) -> None:
    cutoff = legacy_cutoff(today)
    for issued in (cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)):
        gone = delete_after(issued.date()) < today
        assert gone == (issued < cutoff), issued


def test_a_moment_falls_on_the_clocks_norwegian_day() -> None:
    # Around new year too: the write-off's fiscal year is the Norwegian one.
    for day in (date(2026, 1, 1), date(2026, 7, 1), date(2031, 12, 31)):
        moment = moment_on(day)
        assert moment.tzinfo == UTC
        assert moment.astimezone(OSLO).date() == day
