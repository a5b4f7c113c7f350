"""Evaluating a retention profile: is a record due, and what happens to it. No I/O; the sweep
of each service reads its records, asks here, and acts.

Dates are Norwegian calendar days (Europe/Oslo). A rule's `keep_until` is the last day a
record is kept, so it is due from the day after, as billing's `delete_after` already is:
a payment of 2026-03-10, kept 5 years after the end of its fiscal year, is kept until
2031-12-31 and due on 2032-01-01.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from dateutil.relativedelta import relativedelta

from services.common.clock import OSLO, Clock
from services.erasure.domain.retention_profile import (
    Action,
    Duration,
    RetentionProfile,
    RetentionRule,
)

T = TypeVar("T")


def oslo_day(moment: date | datetime) -> date:
    """The Norwegian calendar day of a stored moment (aware datetime) or a day."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a naive datetime has no Norwegian day: give it a time zone")
        return moment.astimezone(OSLO).date()
    return moment


def fiscal_year_end(moment: date | datetime) -> date:
    """The Norwegian fiscal year is the calendar year (regnskapsloven § 1-7)."""
    return date(oslo_day(moment).year, 12, 31)


def add(day: date, duration: Duration) -> date:
    """Calendar arithmetic: a month after Jan 31 is the last day of February."""
    return day + relativedelta(**{duration.unit: duration.amount})


@dataclass(frozen=True)
class RecordDates:
    """The events a record's retention can count from; None for one that has not happened
    (a relationship still running, a consent not withdrawn), which keeps it."""

    collected_at: date | datetime
    last_activity_at: date | datetime | None = None
    relationship_ended_at: date | datetime | None = None
    consent_withdrawn_at: date | datetime | None = None
    # A justified extension of this record (e.g. a follow-up still open), never beyond the
    # rule's maximum.
    extended_until: date | None = None


@dataclass(frozen=True)
class Decision:
    category: str
    due: bool
    action: Action | None  # what to do now; None while not due
    keep_until: date | None  # last day kept; None while its event has not happened
    rule: RetentionRule | None  # None when the profile says nothing of the category


def anchor_day(rule: RetentionRule, record: RecordDates) -> date | None:
    match rule.after:
        case "collection":
            return oslo_day(record.collected_at)
        case "last_activity":
            # A record nobody has touched since it was collected was last active then.
            return oslo_day(record.last_activity_at or record.collected_at)
        case "end_of_relationship":
            ended = record.relationship_ended_at
            return oslo_day(ended) if ended is not None else None
        case "end_of_fiscal_year":
            return fiscal_year_end(record.collected_at)
        case "consent_withdrawn":
            withdrawn = record.consent_withdrawn_at
            return oslo_day(withdrawn) if withdrawn is not None else None
    raise ValueError(f"{rule.category}: a rule without a duration has no anchor")


def keep_until(rule: RetentionRule, record: RecordDates) -> date | None:
    if rule.keep is None:
        return None
    start = anchor_day(rule, record)
    if start is None:
        return None
    standard = add(start, rule.keep)
    if record.extended_until is None or record.extended_until <= standard:
        return standard
    ceiling = add(start, rule.maximum) if rule.maximum is not None else standard
    return min(record.extended_until, ceiling)


def decide(profile: RetentionProfile, category: str, record: RecordDates, clock: Clock) -> Decision:
    """Whether `record` of `category` is due today under `profile`. A count-only rule
    (keep_last) never makes a record due by time: see beyond_last."""
    rule = profile.rule_for(category)
    if rule is None or rule.keep is None:
        return Decision(category, False, None, None, rule)
    last_day = keep_until(rule, record)
    due = last_day is not None and clock() > last_day
    return Decision(category, due, rule.action if due else None, last_day, rule)


def beyond_last(
    profile: RetentionProfile,
    category: str,
    records: Sequence[T],
    collected_at: Callable[[T], date | datetime],
) -> list[T]:
    """The records of one subject past the newest `keep_last` of the category's rule,
    newest first. Give them all as days or all as aware datetimes."""
    rule = profile.rule_for(category)
    if rule is None or rule.keep_last is None:
        raise ValueError(f"{profile.name} keeps no count of {category}")
    # sorted() stays stable with reverse=True: ties keep the order they came in.
    newest_first = sorted(records, key=collected_at, reverse=True)
    return newest_first[rule.keep_last :]
