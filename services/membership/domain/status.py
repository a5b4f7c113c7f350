"""Membership status and its lifecycle: pending -> active -> grace -> lapsed, and cancelled.

Billing drives it (a payment activates, exhausted dunning lapses) and so does time (an active
member whose period ran out is in grace; one whose grace ran out has lapsed). A member's own
request may cancel. Each rule answers the new status, or None when nothing changes."""

from __future__ import annotations

from datetime import date, timedelta

from services.common.errors import FailedPrecondition, InvalidArgument

PENDING = "pending"
ACTIVE = "active"
GRACE = "grace"
LAPSED = "lapsed"
CANCELLED = "cancelled"
STATUSES = (PENDING, ACTIVE, GRACE, LAPSED, CANCELLED)

# Why a status changed, as MemberStatusChanged.reason says.
PAYMENT = "payment"
DUNNING = "dunning"
EXPIRY = "expiry"
CANCELLATION = "cancellation"


def parse_status_filter(status: str) -> str | None:
    if not status:
        return None
    if status not in STATUSES:
        raise InvalidArgument({"status": f"one of {', '.join(STATUSES)}"})
    return status


def cancelled_from(current: str) -> str:
    """A member may cancel from any status but cancelled."""
    if current == CANCELLED:
        raise FailedPrecondition("the membership is already cancelled")
    return CANCELLED


def after_payment(current: str) -> str | None:
    """A payment activates (and renews) any membership but a cancelled one, which stays
    cancelled: the payment is then ignored."""
    return None if current == CANCELLED else ACTIVE


def after_dunning_exhausted(current: str) -> str | None:
    """Every reminder went unanswered: a pending, active or grace membership lapses."""
    return LAPSED if current in (PENDING, ACTIVE, GRACE) else None


def after_time(current: str, period_end: date | None, grace_days: int, today: date) -> str | None:
    """One step as time passes: active past the period's last day -> grace; grace past the
    last day of grace (period end + grace days) -> lapsed. A member past both takes both
    steps, one at a time."""
    if period_end is None or today <= period_end:
        return None
    if current == ACTIVE:
        return GRACE
    if current == GRACE and today > period_end + timedelta(days=grace_days):
        return LAPSED
    return None
