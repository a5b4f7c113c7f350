"""Fee plans and an org's billing policy (KID scheme, dunning), validated. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from services.billing.domain.kid import MOD10, SCHEMES
from services.common.errors import InvalidArgument

YEARLY = "yearly"
MONTHLY = "monthly"
PERIODS = (YEARLY, MONTHLY)
CURRENCIES = ("NOK", "SEK", "DKK", "EUR")  # what Stripe settles for Norwegian orgs
MAX_AMOUNT_ORE = 10_000_000_00  # NOK 10 million: a typo guard, not a business rule
MAX_DUE_DAYS = 90
DEFAULT_DUE_DAYS = 14


@dataclass(frozen=True)
class FeePlan:
    membership_type_id: str  # "" for the org's default plan
    amount_ore: int
    currency: str = "NOK"
    period: str = YEARLY
    due_days: int = DEFAULT_DUE_DAYS
    vat: bool = False


@dataclass(frozen=True)
class BillingPolicy:
    kid_scheme: str = MOD10
    first_reminder_days: int = 7
    max_reminders: int = 2
    reminder_interval_days: int = 14


DEFAULT_POLICY = BillingPolicy()


def validate_fee_plan(
    membership_type_id: str,
    amount_ore: int,
    currency: str,
    period: str,
    due_days: int,
    vat: bool,
) -> FeePlan:
    """A plan as asked for, with defaults filled in; InvalidArgument names every bad field."""
    errors: dict[str, str] = {}
    currency = (currency or "NOK").strip().upper()
    period = (period or YEARLY).strip().lower()
    due_days = due_days or DEFAULT_DUE_DAYS
    if not 0 < amount_ore <= MAX_AMOUNT_ORE:
        errors["amount_ore"] = f"between 1 and {MAX_AMOUNT_ORE} øre"
    if currency not in CURRENCIES:
        errors["currency"] = f"one of {', '.join(CURRENCIES)}"
    if period not in PERIODS:
        errors["period"] = f"one of {', '.join(PERIODS)}"
    if not 1 <= due_days <= MAX_DUE_DAYS:
        errors["due_days"] = f"between 1 and {MAX_DUE_DAYS}"
    if errors:
        raise InvalidArgument(errors)
    return FeePlan(membership_type_id.strip(), amount_ore, currency, period, due_days, vat)


def validate_policy(
    kid_scheme: str, first_reminder_days: int, max_reminders: int, reminder_interval_days: int
) -> BillingPolicy:
    errors: dict[str, str] = {}
    kid_scheme = (kid_scheme or MOD10).strip().lower()
    if kid_scheme not in SCHEMES:
        errors["kid_scheme"] = f"one of {', '.join(SCHEMES)}"
    if not 0 <= first_reminder_days <= 365:
        errors["first_reminder_days"] = "between 0 and 365"
    if not 0 <= max_reminders <= 10:
        errors["max_reminders"] = "between 0 and 10"
    if not 1 <= reminder_interval_days <= 365:
        errors["reminder_interval_days"] = "between 1 and 365"
    if errors:
        raise InvalidArgument(errors)
    return BillingPolicy(kid_scheme, first_reminder_days, max_reminders, reminder_interval_days)
