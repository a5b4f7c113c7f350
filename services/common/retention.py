"""Retention as data: the profile an org loads (per data category, how long its records are
kept, counted from which event, and what happens to them then) and its evaluation (is a record
due, and what happens to it). A mechanism every service's sweep uses; no I/O. The profile files
and their loading live in the erasure service.

The categories are the stores the services hold (the same names their erasure receipts use),
so that each rule names data a sweep can actually find.

Dates are Norwegian calendar days (Europe/Oslo). A rule's `keep_until` is the last day a
record is kept, so it is due from the day after, as billing's `delete_after` already is:
a payment of 2026-03-10, kept 5 years after the end of its fiscal year, is kept until
2031-12-31 and due on 2032-01-01.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal, TypeVar, get_args

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.common.clock import OSLO, Clock

T = TypeVar("T")

Category = Literal[
    "member-record",
    "login-log",
    "ip-location",
    "consents",
    "audit-entries",
    "message-log",
    "marketing-messages",
    "payment-records",
    "payment-provider-customer",
]
# Where each category lives; a sweep in that service enforces its rule.
STORES: dict[str, str] = {
    "member-record": "membership: name, email, phone, language, status, form answers, guardian",
    "login-log": "membership: sessions (time, kind, device, IP address, place)",
    "ip-location": "membership: the IP address and place (country, city) of each session",
    "consents": "membership: consents given and withdrawn, with their history",
    "audit-entries": "membership: audit entries about the member (field names, actors, times)",
    "message-log": "notify: service messages (receipts, invoices, reminders) and their events",
    "marketing-messages": "notify: messages sent under a marketing consent, and their events",
    "payment-records": "billing: invoices, credit notes and ledger entries",
    "payment-provider-customer": "billing: the Stripe customer (contact details) and its link",
}
# Where `anonymise` is not deletion: a session keeps its time, kind and device without its
# IP address and place. Elsewhere nothing worth keeping is left once the personal data is
# gone (a consent, an audit entry or a message without its member says nothing, a member
# record is the member, payment records are pseudonymised by law anyway), so the loader
# refuses `anonymise` there (services/erasure/adapters/retention_files.py).
ANONYMISABLE: tuple[str, ...] = ("login-log", "ip-location")
# The event a duration counts from. A fiscal year is the calendar year (Norway), so
# end_of_fiscal_year is Dec 31 of the year the record was collected.
Anchor = Literal[
    "collection", "last_activity", "end_of_relationship", "end_of_fiscal_year", "consent_withdrawn"
]
Action = Literal["delete", "anonymise"]
# A member's relationship ended at their newest status change to one of these (membership's
# status names); every service that counts from end_of_relationship reads it the same way.
RELATIONSHIP_ENDED: tuple[str, ...] = ("cancelled", "lapsed")
CATEGORIES: tuple[str, ...] = get_args(Category)
ANCHORS: tuple[str, ...] = get_args(Anchor)

_DURATION = re.compile(r"^(-?\d+) (day|month|year)s?$")
_MAX_QUOTE = 400


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str  # days, months or years

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"

    def in_months(self) -> float:
        """For comparing a maximum with its duration only; calendar arithmetic is elsewhere."""
        return {"days": self.amount / 30.44, "months": self.amount, "years": self.amount * 12}[
            self.unit
        ]


def parse_duration(value: object) -> Duration:
    """'30 days', '24 months', '5 years' (or '1 year'), never negative."""
    if not isinstance(value, str):
        raise ValueError("a duration such as '30 days', '24 months' or '5 years'")
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration such as '30 days', '24 months', '5 years'")
    amount = int(match.group(1))
    if amount < 0:
        raise ValueError(f"{value!r}: a duration must not be negative")
    return Duration(amount, match.group(2) + "s")


DurationField = Annotated[Duration, BeforeValidator(parse_duration)]


class RetentionRule(BaseModel):
    """One category's rule: keep it `keep` after the `after` event, or only the newest
    `keep_last` records, or both (the newest N, and none of them beyond the duration)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    category: Category
    keep: DurationField | None = None
    after: Anchor | None = None
    keep_last: int | None = Field(default=None, ge=1)
    # The longest a record may stay when an extension of it is justified (e.g. "5 (up to 10)
    # years"); without one, a rule admits no extension.
    maximum: DurationField | None = None
    action: Action
    basis: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=_MAX_QUOTE)  # the seed's own words

    @model_validator(mode="after")
    def _consistent(self) -> RetentionRule:
        if self.keep is None and self.keep_last is None:
            raise ValueError("keep: a duration (or keep_last: a count) is required")
        if self.keep is not None and self.after is None:
            raise ValueError(
                f"after: keep {self.keep} after which event? one of {', '.join(ANCHORS)}"
            )
        if self.keep is None and self.after is not None:
            raise ValueError("after: only a duration (keep) counts from an event")
        if self.maximum is not None:
            if self.keep is None:
                raise ValueError("maximum: only a duration (keep) can be extended")
            if self.maximum.in_months() < self.keep.in_months():
                raise ValueError(f"maximum: {self.maximum} is shorter than keep {self.keep}")
        return self


class RetentionProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,49}$")
    seed: str = Field(min_length=1, max_length=200)  # the privacy policy it implements
    version: int = Field(ge=1)
    # Not strict: YAML gives a list. Emptiness is checked below, after the rules validate,
    # so that a bad rule is not also reported as a missing one.
    rules: tuple[RetentionRule, ...] = Field(strict=False)

    @model_validator(mode="after")
    def _one_rule_per_category(self) -> RetentionProfile:
        if not self.rules:
            raise ValueError("rules: a profile needs at least one rule")
        first: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.category in first:
                raise ValueError(
                    f"rules[{index}] ({rule.category}).category: a second rule for "
                    f"{rule.category} (the first is rules[{first[rule.category]}])"
                )
            first[rule.category] = index
        return self

    def rule_for(self, category: str) -> RetentionRule | None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown data category {category!r}")
        return next((r for r in self.rules if r.category == category), None)


def action_done(rule: RetentionRule | None) -> str:
    """What a sweep does under `rule`, as its metrics and audit entries say: a profile loaded
    before `anonymise` was refused where it means nothing is deleted, and says so."""
    if rule is not None and rule.action == "anonymise" and rule.category in ANONYMISABLE:
        return "anonymise"
    return "delete"


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
