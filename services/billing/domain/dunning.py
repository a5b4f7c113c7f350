"""Dunning: what happens to an open invoice as days pass after its due date. No I/O.

An invoice first comes up `first_reminder_days` after it is due. Each time it comes up, it
gets a reminder, until `max_reminders` have gone out; the time after that, it is written
off (uncollectible) and the membership lapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.billing.domain.fees import BillingPolicy

REMIND = "remind"
WRITE_OFF = "write-off"


@dataclass(frozen=True)
class Step:
    action: str  # REMIND or WRITE_OFF
    reminder_number: int  # 1.. for REMIND; the count sent so far for WRITE_OFF
    next_on: date | None  # when the invoice comes up again; None once written off


def first_check(due: date, policy: BillingPolicy) -> date:
    return due + timedelta(days=policy.first_reminder_days)


def next_step(reminders_sent: int, today: date, policy: BillingPolicy) -> Step:
    """The step for an open invoice that has come up today."""
    if reminders_sent < policy.max_reminders:
        return Step(
            REMIND,
            reminders_sent + 1,
            today + timedelta(days=policy.reminder_interval_days),
        )
    return Step(WRITE_OFF, reminders_sent, None)
