"""Invoice rules: KID numbers, due dates, and how long the bookkeeping act keeps them."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

from stdnum import luhn

KID_BODY_DIGITS = 9
BOOKKEEPING_BASIS = "bokføringsloven § 13: kept 5 years after the end of the fiscal year"
RETENTION_YEARS = 5


def kid_for(invoice_number: int) -> str:
    """KID with a MOD10 (Luhn) check digit; leading zeros are part of the number."""
    body = str(invoice_number).zfill(KID_BODY_DIGITS)
    return body + luhn.calc_check_digit(body)


def due_date(issued: date, due_days: int) -> date:
    return issued + timedelta(days=due_days)


def delete_after(issued: date) -> date:
    """The fiscal year is the calendar year; records go 5 years after it ends."""
    return date(issued.year + RETENTION_YEARS, 12, 31)


def pseudonym(key: bytes, member_id: str) -> str:
    return "pseud-" + hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()[:32]
