"""Membership types and the periods they cover. Pure date arithmetic, no I/O.

A period is (first day, last day), both covered. Fixed types follow the calendar: a yearly one
ends on Dec 31 (a sign-up on or after the rollover date also covers next year), a monthly one
at the end of the month. A rolling period ends the day before the same date a year (a month)
later; where that date does not exist (the 31st, Feb 29) it ends on the last day of that month,
so Jan 31 covers up to Feb 28 and the renewal runs Mar 1 - Mar 31.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.errors import InvalidArgument
from services.membership.domain.status import ACTIVE, GRACE
from services.membership.domain.validation import clean_name

YEARLY = "yearly"
MONTHLY = "monthly"
PERIODS = (YEARLY, MONTHLY)
FIXED = "fixed"
ROLLING = "rolling"
KINDS = (FIXED, ROLLING)
MAX_NAME = 100
MAX_GRACE_DAYS = 365
DEFAULT_GRACE_DAYS = 30
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class TypeRules:
    """What a membership type says about periods; also the validated draft of a new type."""

    name: str
    period: str
    kind: str
    rollover: str = ""  # "MM-DD", fixed yearly only; "" for none
    grace_days: int = 0


# For members without a type.
DEFAULT_RULES = TypeRules("default", YEARLY, ROLLING, "", DEFAULT_GRACE_DAYS)


def validate_type(name: str, period: str, kind: str, rollover: str, grace_days: int) -> TypeRules:
    """A new type's fields, normalised; InvalidArgument names every bad field."""
    errors: dict[str, str] = {}
    name = clean_name(errors, name, MAX_NAME)
    if period not in PERIODS:
        errors["period"] = f"one of {', '.join(PERIODS)}"
    if kind not in KINDS:
        errors["kind"] = f"one of {', '.join(KINDS)}"
    rollover = rollover.strip()
    if rollover:
        if (period, kind) != (YEARLY, FIXED):
            errors["rollover"] = "only for fixed yearly types"
        elif _month_day(rollover) is None:
            errors["rollover"] = "a date as MM-DD, 01-02 to 12-31, not 02-29"
    if not 0 <= grace_days <= MAX_GRACE_DAYS:
        errors["grace_days"] = f"between 0 and {MAX_GRACE_DAYS}"
    if errors:
        raise InvalidArgument(errors)
    return TypeRules(name, period, kind, rollover, grace_days)


def _month_day(text: str) -> tuple[int, int] | None:
    """(month, day) of a rollover date. Jan 1 would make every sign-up cover two years, and
    Feb 29 is missing in most years: both are refused."""
    match = _MONTH_DAY.match(text)
    if not match:
        return None
    month, day = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2001, month)[1]:
        return None
    if (month, day) == (1, 1):
        return None
    return month, day


def _last_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def months_later_end(start: date, months: int) -> date:
    """The last day of a rolling period of `months` months from `start`."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    last = calendar.monthrange(year, month0 + 1)[1]
    if start.day > last:  # no such date: the period ends with that month
        return date(year, month0 + 1, last)
    return date(year, month0 + 1, start.day) - timedelta(days=1)


def period_for(rules: TypeRules, start: date) -> tuple[date, date]:
    """The period a payment buys when coverage begins on `start`."""
    if rules.kind == FIXED and rules.period == MONTHLY:
        return start, _last_of_month(start.year, start.month)
    if rules.kind == FIXED:
        rollover = _month_day(rules.rollover) if rules.rollover else None
        year = start.year
        if rollover is not None and (start.month, start.day) >= rollover:
            year += 1
        return start, date(year, 12, 31)
    return start, months_later_end(start, 12 if rules.period == YEARLY else 1)


def renewal(
    rules: TypeRules, status: str, current_end: date | None, today: date
) -> tuple[date, date]:
    """The new period after a payment: it continues the current one while the member is
    active or in grace, and starts today for a pending or lapsed member."""
    if status in (ACTIVE, GRACE) and current_end is not None:
        return period_for(rules, current_end + timedelta(days=1))
    return period_for(rules, today)
