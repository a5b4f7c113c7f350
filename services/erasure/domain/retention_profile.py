"""A retention profile: an org's retention policy as data. Per data category, how long its
records are kept, counted from which event, and what happens to them then.

The categories are the stores the services hold (the same names their erasure receipts use),
so that each rule names data a sweep can actually find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
# The event a duration counts from. A fiscal year is the calendar year (Norway), so
# end_of_fiscal_year is Dec 31 of the year the record was collected.
Anchor = Literal[
    "collection", "last_activity", "end_of_relationship", "end_of_fiscal_year", "consent_withdrawn"
]
Action = Literal["delete", "anonymise"]
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
