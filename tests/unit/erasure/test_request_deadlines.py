"""Due dates and the extension rules of data-subject requests (Europe/Oslo calendar days)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.erasure.domain import requests as rules


def test_due_one_calendar_month_after_the_oslo_day_of_receipt() -> None:
    assert rules.due_date(datetime(2026, 3, 10, 12, tzinfo=UTC)) == date(2026, 4, 10)
    # 23:30 UTC on 31 January is already 1 February in Oslo.
    assert rules.due_date(datetime(2026, 1, 31, 23, 30, tzinfo=UTC)) == date(2026, 3, 1)
    # A month without the day ends on its last day.
    assert rules.due_date(datetime(2026, 1, 31, 10, tzinfo=UTC)) == date(2026, 2, 28)
    assert rules.due_date(datetime(2028, 1, 31, 10, tzinfo=UTC)) == date(2028, 2, 29)


def _extend(**changes: object) -> rules.Extension:
    args: dict[str, object] = {
        "received_on": date(2026, 3, 10),
        "already_extended": 0,
        "status": rules.IN_PROGRESS,
        "months": 2,
        "reason": "many stores and a slow sub-processor",
        "member_told": True,
        "today": date(2026, 3, 20),
    }
    return rules.extend(**{**args, **changes})  # type: ignore[arg-type]


def test_an_extension_adds_up_to_two_months_to_the_original_due_date() -> None:
    assert _extend().new_due_date == date(2026, 6, 10)
    assert _extend(months=1).new_due_date == date(2026, 5, 10)
    assert _extend(today=date(2026, 4, 10)).months == 2  # the last day of the first month


def test_an_extension_counts_from_receipt_not_from_a_due_date_a_short_month_cut() -> None:
    extended = _extend(received_on=date(2027, 1, 31), today=date(2027, 2, 10))
    assert extended.new_due_date == date(2027, 4, 30)  # not 28 April: 28 February + 2 months


def test_bad_extensions_name_every_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        _extend(months=3, reason=" ", member_told=False)
    assert set(caught.value.field_errors) == {"months", "reason", "member_told"}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"already_extended": 2}, "already extended once"),
        ({"today": date(2026, 4, 11)}, "too late"),
        ({"status": rules.COMPLETED}, "cannot be extended"),
    ],
)
def test_extensions_only_once_within_the_first_month_of_an_open_request(
    changes: dict[str, object], why: str
) -> None:
    with pytest.raises(FailedPrecondition, match=why):
        _extend(**changes)


def test_the_status_flow_goes_one_way() -> None:
    rules.require_transition(rules.RECEIVED, rules.IDENTITY_VERIFIED)
    for current, new in [
        (rules.RECEIVED, rules.IN_PROGRESS),
        (rules.IDENTITY_VERIFIED, rules.IDENTITY_VERIFIED),
        (rules.COMPLETED, rules.IN_PROGRESS),
    ]:
        with pytest.raises(FailedPrecondition):
            rules.require_transition(current, new)


def test_at_risk_within_seven_days_and_when_overdue() -> None:
    due = date(2026, 4, 10)
    assert not rules.at_risk(due, date(2026, 4, 2))
    assert rules.at_risk(due, date(2026, 4, 3))
    assert rules.at_risk(due, date(2026, 4, 20))
