"""Invoice rules: states, due dates, and how long the bookkeeping act keeps the records."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

BOOKKEEPING_BASIS = "bokføringsloven § 13: kept 5 years after the end of the fiscal year"
RETENTION_YEARS = 5

OPEN = "open"
PAID = "paid"
VOID = "void"
UNCOLLECTIBLE = "uncollectible"
STATUSES = (OPEN, PAID, VOID, UNCOLLECTIBLE)
# Why an invoice was issued.
SIGNUP = "signup"
RENEWAL = "renewal"


def due_date(issued: date, due_days: int) -> date:
    return issued + timedelta(days=due_days)


def delete_after(recorded: date) -> date:
    """The fiscal year is the calendar year; records go 5 years after it ends."""
    return date(recorded.year + RETENTION_YEARS, 12, 31)


PSEUDONYM_PREFIX = "pseud-"


def pseudonym(key: bytes, member_id: str) -> str:
    return PSEUDONYM_PREFIX + hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()[:32]


def refundable(amount_ore: int, refunded_ore: int, status: str) -> int:
    """What may still be refunded: only paid invoices give money back."""
    return amount_ore - refunded_ore if status == PAID else 0
